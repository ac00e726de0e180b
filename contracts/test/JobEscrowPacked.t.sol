// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {JobEscrow, IJobCallback} from "../src/JobEscrow.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

/// @dev A requester contract whose onTaskSettled records, for its first two calls, the task and
/// what the escrow said at that moment, and on the first call settles again from inside the
/// callback with the data it was given. Its slots start non-zero so that the callback's writes
/// fit in its 100,000 gas.
contract ReenteringRequester is IJobCallback {
    JobEscrow internal escrow;
    bytes32 internal againJob;
    bytes internal againTasks;
    uint256 internal calls = 1;
    /// @dev Per call: taskIndex << 128 | isSettled << 64 | settledCount, plus 1 << 255.
    uint256[2] public seen = [uint256(1), 1];
    uint256 public reentered = type(uint256).max;

    function open(JobEscrow e, JobEscrow.JobParams calldata p) external payable returns (bytes32) {
        escrow = e;
        return e.createJobWithCallback{value: msg.value}(p);
    }

    function reenterWith(bytes32 jobId, bytes calldata tasks) external {
        againJob = jobId;
        againTasks = tasks;
    }

    function onTaskSettled(bytes32 jobId, uint32 taskIndex, bytes32) external {
        uint256 call = calls++;
        bool settled = escrow.isSettled(jobId, taskIndex);
        uint256 count = escrow.getJob(jobId).settledCount;
        if (call <= 2) seen[call - 1] = (1 << 255) | (uint256(taskIndex) << 128) | (settled ? 1 << 64 : 0) | count;
        if (call == 1) {
            JobEscrow.JobTasks[] memory jobs = new JobEscrow.JobTasks[](1);
            jobs[0] = JobEscrow.JobTasks(againJob, againTasks);
            reentered = escrow.settlePacked(jobs);
        }
    }
}

/// @dev settlePacked: the same rules as settle (JobEscrow.t.sol), in the packed format.
contract JobEscrowPackedTest is JobEscrowBase {
    bytes32 internal id;
    bytes32 internal constant RESULT = keccak256("result");

    function setUp() public override {
        super.setUp();
        id = createJob(600, 3, 2);
    }

    /// @dev One record, signed by workers [0, n) (ascending: keys are sorted by address).
    function record(bytes32 jobId, uint32 task, bytes32 result, uint256 n) internal view returns (bytes memory b) {
        b = abi.encodePacked(task, result, uint8(n));
        for (uint256 i = 0; i < n; ++i) {
            b = bytes.concat(b, compact(sign(workerKeys[i], jobId, task, result)));
        }
    }

    function entry(bytes32 jobId, bytes memory tasks) internal pure returns (JobEscrow.JobTasks[] memory a) {
        a = new JobEscrow.JobTasks[](1);
        a[0] = JobEscrow.JobTasks(jobId, tasks);
    }

    function settleP(bytes memory tasks) internal returns (uint256) {
        return escrow.settlePacked(entry(id, tasks));
    }

    function test_settlePacked_creditsEverySignerAndKeepsTheBooks() public {
        uint256 n = settleP(bytes.concat(record(id, 7, RESULT, 3), record(id, 8, RESULT, 2)));
        assertEq(n, 2);
        assertEq(escrow.balanceOf(worker(0)), 2 * REWARD);
        assertEq(escrow.balanceOf(worker(1)), 2 * REWARD);
        assertEq(escrow.balanceOf(worker(2)), REWARD);
        assertEq(escrow.accountOf(worker(0)).settledResults, 2);
        assertEq(escrow.accountOf(worker(2)).settledResults, 1);
        assertTrue(escrow.isSettled(id, 7) && escrow.isSettled(id, 8));
        assertFalse(escrow.isSettled(id, 6));
        JobEscrow.Job memory j = escrow.getJob(id);
        assertEq(j.remaining, 1800 * REWARD - 5 * REWARD);
        assertEq(j.settledCount, 2);
    }

    function test_settlePacked_emitsOneEventWithASignerTable() public {
        address[] memory signers = new address[](3);
        for (uint256 i = 0; i < 3; ++i) {
            signers[i] = worker(i);
        }
        bytes32 other = keccak256("other");
        bytes memory tasks = abi.encodePacked(uint32(5), RESULT, uint8(3), uint8(0), uint8(1), uint8(2));
        tasks = bytes.concat(tasks, abi.encodePacked(uint32(300), other, uint8(2), uint8(0), uint8(1)));
        vm.expectEmit(address(escrow));
        emit JobEscrow.TasksSettled(id, signers, tasks);
        settleP(bytes.concat(record(id, 5, RESULT, 3), record(id, 300, other, 2)));
    }

    function test_settlePacked_skipsTasksSettledBeforeOrEarlierInTheData() public {
        escrow.settle(one(cert(id, 1, RESULT, 2)));
        bytes memory data = bytes.concat(record(id, 1, RESULT, 3), record(id, 2, RESULT, 2), record(id, 2, RESULT, 3));
        assertEq(settleP(data), 1);
        // Task 1 paid workers 0 and 1 once (by settle); task 2 paid them once more, never worker 2.
        assertEq(escrow.balanceOf(worker(0)), 2 * REWARD);
        assertEq(escrow.balanceOf(worker(2)), 0);
        assertEq(escrow.getJob(id).settledCount, 2);
        // Nothing new: no event, nothing paid.
        vm.recordLogs();
        assertEq(settleP(data), 0);
        assertEq(vm.getRecordedLogs().length, 0);
        assertEq(escrow.balanceOf(worker(0)), 2 * REWARD);
    }

    function test_settlePacked_keepsEachWordOfSettledBits() public {
        uint32[6] memory tasks = [uint32(0), 255, 256, 511, 512, 3];
        bytes memory data;
        for (uint256 i = 0; i < tasks.length; ++i) {
            data = bytes.concat(data, record(id, tasks[i], RESULT, 2));
        }
        assertEq(settleP(data), 6);
        for (uint256 i = 0; i < tasks.length; ++i) {
            assertTrue(escrow.isSettled(id, tasks[i]));
        }
        assertFalse(escrow.isSettled(id, 1) || escrow.isSettled(id, 254) || escrow.isSettled(id, 257));
        // Words written by an earlier call are added to, not overwritten.
        assertEq(settleP(bytes.concat(record(id, 257, RESULT, 2), record(id, 1, RESULT, 2))), 2);
        assertTrue(escrow.isSettled(id, 256) && escrow.isSettled(id, 257) && escrow.isSettled(id, 0));
        assertEq(escrow.getJob(id).settledCount, 8);
    }

    function test_settlePacked_settlesSeveralJobsInOneCall() public {
        bytes32 id2 = createJob(10, 2, 2);
        JobEscrow.JobTasks[] memory jobs = new JobEscrow.JobTasks[](2);
        jobs[0] = JobEscrow.JobTasks(id, record(id, 4, RESULT, 2));
        jobs[1] = JobEscrow.JobTasks(id2, bytes.concat(record(id2, 4, RESULT, 2), record(id2, 9, RESULT, 2)));
        assertEq(escrow.settlePacked(jobs), 3);
        assertEq(escrow.getJob(id2).settledCount, 2);
        assertEq(escrow.balanceOf(worker(1)), 3 * REWARD);
    }

    // Records are built before vm.expectRevert: signing them calls the escrow.
    function test_settlePacked_revertsOnUnknownOrClosedJob() public {
        bytes memory data = record(id, 0, RESULT, 2);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.UnknownJob.selector, bytes32(uint256(1))));
        escrow.settlePacked(entry(bytes32(uint256(1)), data));
        vm.warp(block.timestamp + 2 hours);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.JobClosed.selector, id));
        settleP(data);
    }

    function test_settlePacked_revertsOnTaskOutOfRange() public {
        bytes memory data = record(id, 600, RESULT, 2);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TaskOutOfRange.selector, id, uint32(600), uint32(600)));
        settleP(data);
    }

    function test_settlePacked_revertsOnCutRecords() public {
        bytes memory good = record(id, 0, RESULT, 2);
        // A record whose header is cut short, after one good record.
        bytes memory shortHead = bytes.concat(good, hex"0000000100");
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.MalformedTasks.selector, id, good.length));
        settleP(shortHead);
        // A record that announces more signatures than it carries.
        bytes memory cut = record(id, 1, RESULT, 2);
        assembly {
            mstore(cut, sub(mload(cut), 1))
        }
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.MalformedTasks.selector, id, 0));
        settleP(cut);
        assertFalse(escrow.isSettled(id, 0));
    }

    function test_settlePacked_needsTheQuorumUnlessTheRequesterSettles() public {
        bytes memory one0 = record(id, 0, RESULT, 1);
        bytes memory none1 = record(id, 1, RESULT, 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooFewSignatures.selector, 1, 2));
        settleP(one0);
        vm.prank(requester);
        assertEq(settleP(one0), 1);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooFewSignatures.selector, 0, 1));
        settleP(none1);
    }

    function test_settlePacked_revertsAboveReplicas() public {
        bytes memory data = record(id, 0, RESULT, 4);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooManySignatures.selector, 4, 3));
        settleP(data);
    }

    function test_settlePacked_revertsOnRepeatedOrDescendingSigners() public {
        bytes memory s0 = compact(sign(workerKeys[0], id, 0, RESULT));
        bytes memory s1 = compact(sign(workerKeys[1], id, 0, RESULT));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SignersNotAscending.selector, 1, worker(0)));
        settleP(bytes.concat(abi.encodePacked(uint32(0), RESULT, uint8(2)), s0, s0));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SignersNotAscending.selector, 1, worker(0)));
        settleP(bytes.concat(abi.encodePacked(uint32(0), RESULT, uint8(2)), s1, s0));
    }

    function test_settlePacked_revertsOnHighSOrUnrecoverableSignature() public {
        bytes memory sig = sign(workerKeys[0], id, 0, RESULT);
        (bytes32 r, bytes32 s) = abi.decode(sig, (bytes32, bytes32));
        bytes memory head = abi.encodePacked(uint32(0), RESULT, uint8(2));
        bytes memory second = compact(sign(workerKeys[1], id, 0, RESULT));
        // An s above half the group order is refused, as OpenZeppelin's ECDSA refuses it.
        bytes32 highS = bytes32(uint256(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A1));
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        settleP(bytes.concat(head, abi.encodePacked(r, highS), second));
        // r = 0 recovers no address.
        vm.expectRevert(ECDSA.ECDSAInvalidSignature.selector);
        settleP(bytes.concat(head, abi.encodePacked(bytes32(0), s), second));
    }

    /// The malleable twin of a signature (n - s, other parity) has its top bit set, which the
    /// compact form reads as the parity: it recovers some other address and pays worker 0 nothing.
    function test_settlePacked_malleableTwinDoesNotPayTheSigner() public {
        bytes memory sig = sign(workerKeys[0], id, 0, RESULT);
        (bytes32 r, bytes32 s) = abi.decode(sig, (bytes32, bytes32));
        uint256 order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 twin = bytes32(order - uint256(s));
        bytes memory data = bytes.concat(abi.encodePacked(uint32(0), RESULT, uint8(1), r, twin));
        vm.prank(requester);
        try this.settlePackedExternal(data) {} catch {}
        assertEq(escrow.balanceOf(worker(0)), 0);
    }

    function test_settlePacked_signatureForOtherResultDoesNotPaySigners() public {
        bytes memory data = record(id, 0, keccak256("honest"), 2);
        // Same signatures, claimed for another result: they recover to unrelated addresses.
        bytes32 forged = keccak256("forged");
        assembly {
            mstore(add(data, 36), forged)
        }
        try this.settlePackedExternal(data) {} catch {}
        assertEq(escrow.balanceOf(worker(0)), 0);
        assertEq(escrow.balanceOf(worker(1)), 0);
    }

    function settlePackedExternal(bytes memory data) external returns (uint256) {
        return settleP(data);
    }

    function test_settlePacked_refusesMoreThan255SignersPerEntry() public {
        bytes32 big = createJob(256, 1, 1);
        uint256[] memory keys = new uint256[](256);
        bytes memory data;
        for (uint256 i = 0; i < 256; ++i) {
            keys[i] = uint256(keccak256(abi.encode("many", i)));
            bytes32 result = keccak256(abi.encode(i));
            data = bytes.concat(
                data, abi.encodePacked(uint32(i), result, uint8(1)), compact(sign(keys[i], big, uint32(i), result))
            );
        }
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooManySigners.selector, big, 255));
        escrow.settlePacked(entry(big, data));
    }

    function test_settlePacked_callsBackEachTaskWithTheBooksWrittenFirst() public {
        ReenteringRequester req = new ReenteringRequester();
        JobEscrow.JobParams memory p = params(10, 2, 2);
        bytes32 cb = req.open{value: 20 * REWARD}(escrow, p);
        // From inside the first callback, the requester tries to settle task 0 again: it must
        // find it settled (the books are written before its code runs) and pay nothing.
        bytes memory task0 = record(cb, 0, RESULT, 2);
        req.reenterWith(cb, task0);
        uint256 n = escrow.settlePacked(entry(cb, bytes.concat(task0, record(cb, 5, RESULT, 2))));
        assertEq(n, 2);
        assertEq(req.reentered(), 0);
        // Task 0, settled, settledCount 1; then task 5, settled, settledCount 2.
        assertEq(req.seen(0), (1 << 255) | (0 << 128) | (1 << 64) | 1);
        assertEq(req.seen(1), (1 << 255) | (5 << 128) | (1 << 64) | 2);
        assertEq(escrow.balanceOf(worker(0)), 2 * REWARD);
        JobEscrow.Job memory j = escrow.getJob(cb);
        assertEq(j.settledCount, 2);
        assertEq(j.remaining, 20 * REWARD - 4 * REWARD);
    }

    /// The packed and ABI-encoded forms settle the same certificates to the same state.
    function testFuzz_settlePacked_agreesWithSettle(uint256 seed) public {
        bytes32 a = createJob(600, 3, 2);
        bytes32 b = createJob(600, 3, 2);
        uint256 count = 1 + (seed % 12);
        bytes memory data;
        JobEscrow.Certificate[] memory certs = new JobEscrow.Certificate[](count);
        for (uint256 i = 0; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint32 task = uint32(r % 600);
            uint256 n = 2 + ((r >> 32) % 2);
            bytes32 result = bytes32(r >> 64);
            data = bytes.concat(data, record(b, task, result, n));
            certs[i] = cert(a, task, result, n);
        }
        uint256 viaSettle = escrow.settle(certs);
        uint256[3] memory afterSettle;
        for (uint256 k = 0; k < 3; ++k) {
            afterSettle[k] = escrow.balanceOf(worker(k));
        }
        uint256 viaPacked = escrow.settlePacked(entry(b, data));
        assertEq(viaPacked, viaSettle);
        for (uint256 k = 0; k < 3; ++k) {
            assertEq(escrow.balanceOf(worker(k)), 2 * afterSettle[k]);
        }
        assertEq(escrow.getJob(a).remaining, escrow.getJob(b).remaining);
        assertEq(escrow.getJob(a).settledCount, escrow.getJob(b).settledCount);
        for (uint32 t = 0; t < 600; t += 37) {
            assertEq(escrow.isSettled(a, t), escrow.isSettled(b, t));
        }
    }
}

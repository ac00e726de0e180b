// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobEscrow} from "../src/JobEscrow.sol";
import {IJobCallback} from "../src/IJobCallback.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

/// @dev A requester contract whose onTaskSettled records, for its first two calls, the task and
/// what the escrow said at that moment, and on the first call records again from inside the
/// callback with the data it was given. Its slots start non-zero so that the callback's writes
/// fit in its 100,000 gas.
contract ReenteringRequester is IJobCallback {
    JobEscrow internal escrow;
    bytes internal againTasks;
    bytes internal againSig;
    uint256 internal calls = 1;
    /// @dev Per call: taskIndex << 128 | isRecorded << 64 | recordedCount, plus 1 << 255.
    uint256[2] public seen = [uint256(1), 1];
    uint256 public reentered = type(uint256).max;

    function open(JobEscrow e, JobEscrow.JobParams calldata p) external payable returns (bytes32) {
        escrow = e;
        return e.createJobWithCallback{value: msg.value}(p);
    }

    function reenterWith(bytes calldata tasks, bytes calldata sig) external {
        againTasks = tasks;
        againSig = sig;
    }

    function onTaskSettled(bytes32 jobId, uint32 taskIndex, bytes32) external {
        uint256 call = calls++;
        bool recorded = escrow.isRecorded(jobId, taskIndex);
        uint256 count = escrow.getJob(jobId).recordedCount;
        if (call <= 2) seen[call - 1] = (1 << 255) | (uint256(taskIndex) << 128) | (recorded ? 1 << 64 : 0) | count;
        if (call == 1) reentered = escrow.record(jobId, againTasks, address(0), againSig);
    }

    function refundJob(bytes32 jobId) external returns (uint256) {
        return escrow.refund(jobId);
    }

    receive() external payable {}
}

/// @dev A requester contract whose onTaskSettled always fails.
contract BadCallbackRequester is IJobCallback {
    function open(JobEscrow escrow, JobEscrow.JobParams calldata p) external payable returns (bytes32) {
        return escrow.createJobWithCallback{value: msg.value}(p);
    }

    function onTaskSettled(bytes32, uint32, bytes32) external pure {
        revert("no");
    }
}

contract JobEscrowRecordTest is JobEscrowBase {
    bytes32 internal id;
    address internal relayer = makeAddr("relayer");

    function setUp() public override {
        super.setUp();
        JobEscrow.JobParams memory p = params(600, 3, 2);
        p.feePerTask = FEE;
        id = open(p);
    }

    function test_record_marksTasksCountsThemAndEmits() public {
        bytes memory tasks = recs(0, 3);
        bytes memory sig = signRecord(id, tasks);
        vm.expectEmit(address(escrow));
        emit JobEscrow.ResultsRecorded(id, tasks);
        vm.prank(relayer);
        assertEq(escrow.record(id, tasks, address(0), sig), 3);
        assertTrue(escrow.isRecorded(id, 0) && escrow.isRecorded(id, 2));
        assertFalse(escrow.isRecorded(id, 3));
        JobEscrow.Job memory j = escrow.getJob(id);
        assertEq(j.recordedCount, 3);
        assertEq(j.feesLeft, 597 * FEE);
        // Recording moves no reward.
        assertEq(j.remaining, 1800 * REWARD);
    }

    function test_record_paysTheSenderItsFeeOncePerTask() public {
        recordAs(relayer, id, recs(0, 5));
        assertEq(escrow.balanceOf(relayer), 5 * FEE);
        // Someone else sends the same records again, plus two new ones: paid for those two.
        address late = makeAddr("late");
        assertEq(recordAs(late, id, recs(3, 7)), 2);
        assertEq(escrow.balanceOf(late), 2 * FEE);
        assertEq(escrow.balanceOf(relayer), 5 * FEE);
        // And the fee is withdrawn like pay.
        escrow.withdraw(payable(relayer));
        assertEq(relayer.balance, 5 * FEE);
    }

    /// The front-running fix: the coordinator names the relayer in its signature; whoever copies
    /// the transaction from the mempool and sends it first records the results (they are the
    /// coordinator's either way) but earns nothing: the fees go to the named recorder.
    function test_record_aNamedRecorderIsPaid_notWhoeverSendsIt() public {
        bytes memory tasks = recs(0, 4);
        bytes memory sig = signRecordFor(coordinatorKey, id, tasks, relayer);
        address copier = makeAddr("copier");
        vm.prank(copier);
        assertEq(escrow.record(id, tasks, relayer, sig), 4);
        assertEq(escrow.balanceOf(copier), 0);
        assertEq(escrow.balanceOf(relayer), 4 * FEE);
        assertEq(escrow.getJob(id).feesLeft, 596 * FEE);
    }

    /// The signature binds the recorder: changing it to the copier's own address, or to the zero
    /// address ("whoever sends it"), makes it another message, not the coordinator's.
    function test_record_theRecorderCannotBeSwapped() public {
        bytes memory tasks = recs(0, 4);
        bytes memory sig = signRecordFor(coordinatorKey, id, tasks, relayer);
        address copier = makeAddr("copier");
        vm.startPrank(copier);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.record(id, tasks, copier, sig);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.record(id, tasks, address(0), sig);
        vm.stopPrank();
        assertEq(escrow.getJob(id).recordedCount, 0);
        // And a signature for "whoever sends it" cannot be redirected to a named recorder.
        bytes memory anySender = signRecord(id, tasks);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.record(id, tasks, copier, anySender);
    }

    /// Whoever sends it and whoever is named: the fees go to the named recorder, or to the sender
    /// when none is named, and to nobody else.
    function testFuzz_record_feesGoToTheSignedRecorder(address sender, address recorder) public {
        vm.assume(sender != address(0) && sender != recorder);
        bytes memory tasks = recs(0, 3);
        bytes memory sig = signRecordFor(coordinatorKey, id, tasks, recorder);
        vm.prank(sender);
        assertEq(escrow.record(id, tasks, recorder, sig), 3);
        address payee = recorder == address(0) ? sender : recorder;
        assertEq(escrow.balanceOf(payee), 3 * FEE);
        if (payee != sender) assertEq(escrow.balanceOf(sender), 0);
        assertEq(escrow.getJob(id).feesLeft, 597 * FEE);
    }

    function test_record_withoutFeeCreditsNothing() public {
        bytes32 free = createJob(10, 3, 2);
        recordAs(relayer, free, recs(0, 10));
        assertEq(escrow.balanceOf(relayer), 0);
        assertEq(escrow.getJob(free).recordedCount, 10);
    }

    function test_record_skipsRecordedTasks_andTheEventHoldsOnlyTheNewOnes() public {
        recordAs(relayer, id, recs(1, 3)); // tasks 1, 2
        // Task 1 again (with another hash: the first record wins), 4, 2 again, 4 again, 9.
        bytes memory tasks = bytes.concat(rec(1, keccak256("other")), rec(4, keccak256("4")), recs(2, 3));
        tasks = bytes.concat(tasks, rec(4, keccak256("x")), rec(9, bytes32(0)));
        bytes memory sig = signRecord(id, tasks);
        vm.expectEmit(address(escrow));
        emit JobEscrow.ResultsRecorded(id, bytes.concat(rec(4, keccak256("4")), rec(9, bytes32(0))));
        vm.prank(relayer);
        assertEq(escrow.record(id, tasks, address(0), sig), 2);
        assertEq(escrow.getJob(id).recordedCount, 4);
        assertEq(escrow.balanceOf(relayer), 4 * FEE);
    }

    function test_record_nothingNew_emitsNothing() public {
        recordAs(relayer, id, recs(0, 2));
        bytes memory tasks = recs(0, 2);
        bytes memory sig = signRecord(id, tasks);
        vm.recordLogs();
        assertEq(escrow.record(id, tasks, address(0), sig), 0);
        assertEq(vm.getRecordedLogs().length, 0);
    }

    function test_record_keepsEachWordOfBits() public {
        bytes memory tasks = bytes.concat(rec(255, 0), rec(256, 0), rec(0, 0), rec(511, 0));
        tasks = bytes.concat(tasks, rec(512, 0), rec(257, 0), rec(599, 0));
        recordAs(relayer, id, tasks);
        uint32[7] memory set = [uint32(0), 255, 256, 257, 511, 512, 599];
        for (uint256 i = 0; i < set.length; ++i) {
            assertTrue(escrow.isRecorded(id, set[i]));
        }
        assertFalse(escrow.isRecorded(id, 1));
        assertFalse(escrow.isRecorded(id, 258));
        assertFalse(escrow.isRecorded(id, 513));
        assertEq(escrow.getJob(id).recordedCount, 7);
    }

    function test_record_untilTheWindowCloses() public {
        vm.warp(closesAt(id));
        assertEq(recordAs(relayer, id, recs(0, 1)), 1);
    }

    function test_record_revertsOnUnknownJob() public {
        bytes32 other = keccak256("nope");
        bytes memory tasks = recs(0, 1);
        bytes memory sig = signRecord(other, tasks);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.UnknownJob.selector, other));
        escrow.record(other, tasks, address(0), sig);
    }

    function test_record_revertsAfterTheWindow() public {
        bytes memory tasks = recs(0, 1);
        bytes memory sig = signRecord(id, tasks);
        uint256 closes = closesAt(id);
        vm.warp(closes + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowClosed.selector, id, closes));
        escrow.record(id, tasks, address(0), sig);
    }

    function test_record_revertsAfterRefund() public {
        bytes memory tasks = recs(0, 1);
        bytes memory sig = signRecord(id, tasks);
        vm.warp(closesAt(id) + 1);
        escrow.refund(id);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AlreadyRefunded.selector, id));
        escrow.record(id, tasks, address(0), sig);
    }

    function test_record_revertsOnMalformedTasks() public {
        bytes[3] memory bad = [bytes(""), bytes.concat(recs(0, 1), hex"00"), hex"0000000001"];
        for (uint256 i = 0; i < bad.length; ++i) {
            bytes memory sig = signRecord(id, bad[i]);
            vm.expectRevert(abi.encodeWithSelector(JobEscrow.MalformedTasks.selector, id, bad[i].length));
            escrow.record(id, bad[i], address(0), sig);
        }
    }

    function test_record_revertsOnTaskOutOfRange() public {
        bytes memory tasks = bytes.concat(recs(0, 1), rec(600, 0));
        bytes memory sig = signRecord(id, tasks);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TaskOutOfRange.selector, id, 600, 600));
        escrow.record(id, tasks, address(0), sig);
        assertFalse(escrow.isRecorded(id, 0));
    }

    /// A stranger with fresh keys signs records: nothing is recorded, no fee is paid.
    function test_record_strangerWithFreshKeysRecordsNothing() public {
        bytes memory tasks = recs(0, 100);
        bytes memory sig = signRecordBy(0xA11CE, id, tasks);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, id, vm.addr(0xA11CE), coordinator));
        vm.prank(vm.addr(0xA11CE));
        escrow.record(id, tasks, address(0), sig);
        assertEq(escrow.getJob(id).recordedCount, 0);
        assertEq(escrow.balanceOf(vm.addr(0xA11CE)), 0);
    }

    function test_record_signatureIsForItsJobAndItsTasksOnly() public {
        bytes32 other = createJob(600, 3, 2);
        bytes memory tasks = recs(0, 2);
        bytes memory sig = signRecord(id, tasks);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.record(other, tasks, address(0), sig);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.record(id, recs(0, 3), address(0), sig);
        vm.chainId(block.chainid + 1);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.record(id, tasks, address(0), sig);
    }

    function testFuzz_record_onlyTheCoordinatorsKeyRecords(uint256 key) public {
        key = bound(key, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        bytes memory tasks = recs(0, 4);
        bytes memory sig = signRecordBy(key, id, tasks);
        if (key != coordinatorKey) {
            vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, id, vm.addr(key), coordinator));
        }
        vm.prank(relayer);
        escrow.record(id, tasks, address(0), sig);
        assertEq(escrow.getJob(id).recordedCount, key == coordinatorKey ? 4 : 0);
        assertEq(escrow.balanceOf(relayer), key == coordinatorKey ? 4 * FEE : 0);
    }

    /// Any run of records, repeats included, records each distinct task once and pays its fee once.
    function testFuzz_record_countsEachTaskOnce(uint256 seed) public {
        uint256 count = 1 + (seed % 40);
        bytes memory tasks;
        bool[600] memory seenTask;
        uint256 distinct;
        for (uint256 i = 0; i < count; ++i) {
            uint32 t = uint32(uint256(keccak256(abi.encode(seed, i))) % 20) * 31; // repeats likely, several words
            tasks = bytes.concat(tasks, rec(t, keccak256(abi.encode(seed, i))));
            if (!seenTask[t]) {
                seenTask[t] = true;
                ++distinct;
            }
        }
        assertEq(recordAs(relayer, id, tasks), distinct);
        assertEq(recordAs(relayer, id, tasks), 0);
        assertEq(escrow.getJob(id).recordedCount, distinct);
        assertEq(escrow.balanceOf(relayer), distinct * FEE);
        assertEq(escrow.getJob(id).feesLeft, (600 - distinct) * FEE);
        for (uint32 t = 0; t < 600; t += 31) {
            assertEq(escrow.isRecorded(id, t), seenTask[t]);
        }
    }
}

contract JobEscrowCallbackTest is JobEscrowBase {
    event CallbackFailed(bytes32 indexed jobId, uint32 indexed taskIndex);

    function test_createJobWithCallback_needsAContract() public {
        JobEscrow.JobParams memory p = params(1, 2, 2);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.CallbackNeedsContract.selector, requester));
        escrow.createJobWithCallback{value: 2 * REWARD}(p);
    }

    function test_record_callsBackEachTaskWithTheBooksWrittenFirst() public {
        ReenteringRequester req = new ReenteringRequester();
        JobEscrow.JobParams memory p = params(10, 2, 2);
        p.feePerTask = FEE;
        bytes32 cb = req.open{value: 20 * REWARD + 10 * FEE}(escrow, p);
        // From inside the first callback, the requester records task 0 again: it must find it
        // recorded (the books are written before its code runs) and be paid nothing.
        bytes memory task0 = rec(0, keccak256("r"));
        req.reenterWith(task0, signRecord(cb, task0));
        bytes memory tasks = bytes.concat(task0, rec(5, keccak256("r")));
        assertEq(recordAs(address(this), cb, tasks), 2);
        assertEq(req.reentered(), 0);
        // Task 0, recorded, recordedCount 1; then task 5, recorded, recordedCount 2.
        assertEq(req.seen(0), (1 << 255) | (0 << 128) | (1 << 64) | 1);
        assertEq(req.seen(1), (1 << 255) | (5 << 128) | (1 << 64) | 2);
        JobEscrow.Job memory j = escrow.getJob(cb);
        assertEq(j.recordedCount, 2);
        assertEq(j.feesLeft, 8 * FEE);
        assertEq(escrow.balanceOf(address(this)), 2 * FEE);
        assertEq(escrow.balanceOf(address(req)), 0);
    }

    /// A callback job pays each task's fee to the named recorder too (the per-task path).
    function test_record_ofACallbackJob_paysTheNamedRecorder() public {
        BadCallbackRequester bad = new BadCallbackRequester();
        JobEscrow.JobParams memory p = params(3, 2, 2);
        p.feePerTask = FEE;
        bytes32 jobId = bad.open{value: 6 * REWARD + 3 * FEE}(escrow, p);
        bytes memory tasks = recs(0, 3);
        address named = makeAddr("named");
        bytes memory sig = signRecordFor(coordinatorKey, jobId, tasks, named);
        assertEq(escrow.record(jobId, tasks, named, sig), 3);
        assertEq(escrow.balanceOf(named), 3 * FEE);
        assertEq(escrow.balanceOf(address(this)), 0);
    }

    function test_record_survivesAFailingCallback() public {
        BadCallbackRequester bad = new BadCallbackRequester();
        JobEscrow.JobParams memory p = params(2, 2, 2);
        bytes32 jobId = bad.open{value: 4 * REWARD}(escrow, p);
        bytes memory tasks = recs(0, 2);
        bytes memory sig = signRecord(jobId, tasks);
        vm.expectEmit(address(escrow));
        emit CallbackFailed(jobId, 0);
        vm.expectEmit(address(escrow));
        emit CallbackFailed(jobId, 1);
        vm.expectEmit(address(escrow));
        emit JobEscrow.ResultsRecorded(jobId, tasks);
        escrow.record(jobId, tasks, address(0), sig);
        assertTrue(escrow.isRecorded(jobId, 0) && escrow.isRecorded(jobId, 1));
    }

    function test_record_mustLeaveTheCallbackItsGas() public {
        ReenteringRequester req = new ReenteringRequester();
        bytes32 cb = req.open{value: 2 * REWARD}(escrow, params(1, 2, 2));
        bytes memory tasks = recs(0, 1);
        bytes memory sig = signRecord(cb, tasks);
        // Enough for the signature and the books, not for the callback's 100,000.
        (bool ok, bytes memory ret) = address(escrow).call{gas: 90_000}(
            abi.encodeWithSelector(JobEscrow.record.selector, cb, tasks, address(0), sig)
        );
        assertFalse(ok);
        assertEq(bytes4(ret), JobEscrow.NotEnoughGasForCallback.selector);
        assertFalse(escrow.isRecorded(cb, 0));
    }

    /// Only its requester refunds a callback job: its ether must reach the contract that knows
    /// whom it belongs to (MeshworkRequests forwards it to the consumer).
    function test_refund_ofACallbackJob_onlyByItsRequester() public {
        ReenteringRequester req = new ReenteringRequester();
        bytes32 cb = req.open{value: 2 * REWARD}(escrow, params(1, 2, 2));
        vm.warp(closesAt(cb) + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotRequester.selector, cb, address(this), address(req)));
        escrow.refund(cb);
        assertEq(req.refundJob(cb), 2 * REWARD);
        assertEq(address(req).balance, 2 * REWARD);
    }

    function testFuzz_refund_ofACallbackJob_byAnyoneElseFails(address caller) public {
        ReenteringRequester req = new ReenteringRequester();
        vm.assume(caller != address(req));
        bytes32 cb = req.open{value: 2 * REWARD}(escrow, params(1, 2, 2));
        vm.warp(closesAt(cb) + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotRequester.selector, cb, caller, address(req)));
        vm.prank(caller);
        escrow.refund(cb);
    }
}

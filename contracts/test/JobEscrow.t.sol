// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {JobEscrow} from "../src/JobEscrow.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

contract JobEscrowCreateTest is JobEscrowBase {
    function test_createJob_escrowsAndStores() public {
        bytes32 id = createJob(30, 3, 2);
        JobEscrow.Job memory j = escrow.getJob(id);
        assertEq(j.requester, requester);
        assertEq(j.taskCount, 30);
        assertEq(j.replicas, 3);
        assertEq(j.quorum, 2);
        assertEq(j.remaining, 90 * REWARD);
        assertEq(j.policy, bytes32("exact"));
        assertEq(address(escrow).balance, 90 * REWARD);
    }

    function test_createJob_derivesDistinctIds() public {
        bytes32 a = createJob(1, 1, 1);
        bytes32 b = createJob(1, 1, 1);
        assertTrue(a != b);
        assertEq(a, keccak256(abi.encode(block.chainid, address(escrow), requester, uint256(0))));
        assertEq(escrow.jobNonce(requester), 2);
    }

    function test_createJob_emitsJobCreated() public {
        JobEscrow.JobParams memory p = params(4, 2, 2);
        bytes32 expectedId = keccak256(abi.encode(block.chainid, address(escrow), requester, uint256(0)));
        vm.expectEmit(address(escrow));
        emit JobEscrow.JobCreated(expectedId, requester, p.modelHash, p.inputsRoot, p.policy, 4, 2, 2, REWARD, p.deadline);
        vm.prank(requester);
        escrow.createJob{value: 8 * REWARD}(p);
    }

    function test_createJob_revertsWithoutTasks() public {
        JobEscrow.JobParams memory p = params(0, 3, 2);
        vm.expectRevert(JobEscrow.NoTasks.selector);
        escrow.createJob(p);
    }

    function test_createJob_revertsOnQuorumAboveReplicas() public {
        JobEscrow.JobParams memory p = params(1, 2, 3);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.QuorumOutOfRange.selector, 3, 2));
        escrow.createJob(p);
    }

    function test_createJob_revertsOnZeroQuorum() public {
        JobEscrow.JobParams memory p = params(1, 2, 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.QuorumOutOfRange.selector, 0, 2));
        escrow.createJob(p);
    }

    function test_createJob_revertsOnZeroReward() public {
        JobEscrow.JobParams memory p = params(1, 1, 1);
        p.rewardPerResult = 0;
        vm.expectRevert(JobEscrow.ZeroReward.selector);
        escrow.createJob(p);
    }

    function test_createJob_revertsOnPastDeadline() public {
        JobEscrow.JobParams memory p = params(1, 1, 1);
        p.deadline = uint64(block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.DeadlineNotInFuture.selector, p.deadline, block.timestamp));
        escrow.createJob{value: REWARD}(p);
    }

    function test_createJob_revertsOnWrongEscrow() public {
        JobEscrow.JobParams memory p = params(2, 3, 2);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongEscrow.selector, 6 * REWARD, 6 * REWARD - 1));
        escrow.createJob{value: 6 * REWARD - 1}(p);
    }

    function testFuzz_createJob_requiresExactEscrow(uint32 tasks, uint8 replicas, uint8 quorum, uint256 sent) public {
        tasks = uint32(bound(tasks, 1, 1_000_000));
        replicas = uint8(bound(replicas, 1, 32));
        quorum = uint8(bound(quorum, 1, replicas));
        uint256 expected = uint256(tasks) * replicas * REWARD;
        sent = bound(sent, 0, expected * 2);
        vm.deal(address(this), sent);
        JobEscrow.JobParams memory p = params(tasks, replicas, quorum);
        if (sent != expected) vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongEscrow.selector, expected, sent));
        escrow.createJob{value: sent}(p);
    }
}

contract JobEscrowSettleTest is JobEscrowBase {
    bytes32 internal id;
    bytes32 internal constant RESULT = keccak256("result");

    function setUp() public override {
        super.setUp();
        id = createJob(300, 3, 2);
    }

    function test_settle_creditsEverySigner() public {
        uint256 n = escrow.settle(one(cert(id, 7, RESULT, 3)));
        assertEq(n, 1);
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(escrow.balanceOf(worker(i)), REWARD);
        }
        assertTrue(escrow.isSettled(id, 7));
        assertFalse(escrow.isSettled(id, 6));
        JobEscrow.Job memory j = escrow.getJob(id);
        assertEq(j.remaining, 900 * REWARD - 3 * REWARD);
        assertEq(j.settledCount, 1);
    }

    function test_settle_acceptsExactlyQuorum() public {
        escrow.settle(one(cert(id, 0, RESULT, 2)));
        assertEq(escrow.balanceOf(worker(0)), REWARD);
        assertEq(escrow.balanceOf(worker(2)), 0);
    }

    function test_settle_emitsTaskSettled() public {
        address[] memory signers = new address[](2);
        signers[0] = worker(0);
        signers[1] = worker(1);
        vm.expectEmit(address(escrow));
        emit JobEscrow.TaskSettled(id, 5, RESULT, signers);
        escrow.settle(one(cert(id, 5, RESULT, 2)));
    }

    function test_settle_batchAcrossTasksAndWords() public {
        JobEscrow.Certificate[] memory batch = new JobEscrow.Certificate[](3);
        batch[0] = cert(id, 0, RESULT, 2);
        batch[1] = cert(id, 255, RESULT, 2);
        batch[2] = cert(id, 256, RESULT, 3);
        assertEq(escrow.settle(batch), 3);
        assertTrue(escrow.isSettled(id, 255) && escrow.isSettled(id, 256));
        assertEq(escrow.balanceOf(worker(0)), 3 * REWARD);
        assertEq(escrow.balanceOf(worker(2)), REWARD);
    }

    function test_settle_skipsAlreadySettledTask() public {
        escrow.settle(one(cert(id, 1, RESULT, 2)));
        // A second certificate for the same task, even with a third signer, pays nothing more.
        uint256 n = escrow.settle(one(cert(id, 1, RESULT, 3)));
        assertEq(n, 0);
        assertEq(escrow.balanceOf(worker(0)), REWARD);
        assertEq(escrow.balanceOf(worker(2)), 0);
        assertEq(escrow.getJob(id).settledCount, 1);
    }

    function test_settle_revertsOnUnknownJob() public {
        bytes32 other = keccak256("nope");
        JobEscrow.Certificate[] memory c = one(cert(other, 0, RESULT, 2));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.UnknownJob.selector, other));
        escrow.settle(c);
    }

    function test_settle_revertsAfterDeadline() public {
        JobEscrow.Certificate[] memory c = one(cert(id, 0, RESULT, 2));
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.JobClosed.selector, id));
        escrow.settle(c);
    }

    function test_settle_revertsOnTaskOutOfRange() public {
        JobEscrow.Certificate[] memory c = one(cert(id, 300, RESULT, 2));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TaskOutOfRange.selector, id, 300, 300));
        escrow.settle(c);
    }

    function test_settle_revertsBelowQuorum() public {
        JobEscrow.Certificate[] memory c = one(cert(id, 0, RESULT, 1));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooFewSignatures.selector, 1, 2));
        escrow.settle(c);
    }

    function test_settle_requesterMayAcceptFewerThanQuorum() public {
        JobEscrow.Certificate[] memory c = one(cert(id, 0, RESULT, 1));
        vm.prank(requester);
        assertEq(escrow.settle(c), 1);
        assertEq(escrow.balanceOf(worker(0)), REWARD);
        assertEq(escrow.getJob(id).remaining, 900 * REWARD - REWARD);
    }

    function test_settle_requesterStillNeedsOneSignature() public {
        JobEscrow.Certificate[] memory c = one(cert(id, 0, RESULT, 0));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooFewSignatures.selector, 0, 1));
        vm.prank(requester);
        escrow.settle(c);
    }

    function test_settle_countsSettledResultsPerWorker() public {
        escrow.settle(one(cert(id, 0, RESULT, 3)));
        escrow.settle(one(cert(id, 1, RESULT, 2)));
        assertEq(escrow.accountOf(worker(0)).settledResults, 2);
        assertEq(escrow.accountOf(worker(2)).settledResults, 1);
        assertEq(escrow.accountOf(worker(3)).settledResults, 0);
    }

    function test_settle_revertsAboveReplicas() public {
        JobEscrow.Certificate[] memory c = one(cert(id, 0, RESULT, 4));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooManySignatures.selector, 4, 3));
        escrow.settle(c);
    }

    function test_settle_revertsOnDuplicateSigner() public {
        JobEscrow.Certificate memory c = cert(id, 0, RESULT, 2);
        c.signatures[1] = c.signatures[0];
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SignersNotAscending.selector, 1, worker(0)));
        escrow.settle(one(c));
    }

    function test_settle_revertsOnDescendingSigners() public {
        JobEscrow.Certificate memory c = cert(id, 0, RESULT, 2);
        (c.signatures[0], c.signatures[1]) = (c.signatures[1], c.signatures[0]);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SignersNotAscending.selector, 1, worker(0)));
        escrow.settle(one(c));
    }

    /// A signature over another result recovers to some unrelated address: it must not pay the
    /// real signers, whatever order that address lands in.
    function test_settle_signatureForOtherResultDoesNotPaySigners() public {
        JobEscrow.Certificate memory c = cert(id, 0, RESULT, 2);
        c.signatures[1] = sign(workerKeys[1], id, 0, keccak256("other"));
        try escrow.settle(one(c)) {
            assertEq(escrow.balanceOf(worker(1)), 0);
        } catch {}
        assertEq(escrow.balanceOf(worker(1)), 0);
    }

    /// Flipping s to n - s gives a second valid-looking signature; OpenZeppelin's ECDSA rejects it.
    function test_settle_revertsOnMalleableSignature() public {
        JobEscrow.Certificate memory c = cert(id, 0, RESULT, 2);
        bytes memory sig = c.signatures[0];
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 highS = bytes32(n - uint256(s));
        c.signatures[0] = abi.encodePacked(r, highS, v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        escrow.settle(one(c));
    }

    function test_settle_revertsOnShortSignature() public {
        JobEscrow.Certificate memory c = cert(id, 0, RESULT, 2);
        c.signatures[0] = hex"1234";
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 2));
        escrow.settle(one(c));
    }

    function test_settle_signatureFromOtherDeploymentDoesNotPaySigners() public {
        JobEscrow other = new JobEscrow();
        JobEscrow.Certificate memory c = cert(id, 0, RESULT, 2);
        // Re-sign under the other contract's domain: recovers to unrelated addresses here.
        JobEscrow saved = escrow;
        escrow = other;
        JobEscrow.Certificate memory foreign = cert(id, 0, RESULT, 2);
        escrow = saved;
        c.signatures = foreign.signatures;
        try escrow.settle(one(c)) {} catch {}
        assertEq(escrow.balanceOf(worker(0)), 0);
        assertEq(escrow.balanceOf(worker(1)), 0);
    }

    function test_settle_revertsAfterRefund() public {
        JobEscrow.Certificate[] memory c = one(cert(id, 0, RESULT, 2));
        vm.warp(block.timestamp + 2 hours);
        escrow.refund(id);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.JobClosed.selector, id));
        escrow.settle(c);
    }

    function testFuzz_settle_paysEachSignerOncePerTask(uint32 task, uint8 signers) public {
        task = uint32(bound(task, 0, 299));
        signers = uint8(bound(signers, 2, 3));
        escrow.settle(one(cert(id, task, RESULT, signers)));
        escrow.settle(one(cert(id, task, RESULT, signers)));
        for (uint256 i = 0; i < signers; ++i) {
            assertEq(escrow.balanceOf(worker(i)), REWARD);
        }
        assertEq(escrow.getJob(id).remaining, 900 * REWARD - uint256(signers) * REWARD);
    }
}

contract JobEscrowPayoutTest is JobEscrowBase {

    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = createJob(10, 3, 2);
        escrow.settle(one(cert(id, 0, keccak256("r"), 3)));
        escrow.settle(one(cert(id, 1, keccak256("r"), 2)));
    }

    function test_withdraw_paysWorkerAndZeroesBalance() public {
        address w = worker(0);
        uint256 before = w.balance;
        // Anyone may trigger it; the money goes to the worker.
        vm.prank(makeAddr("anyone"));
        uint256 amount = escrow.withdraw(payable(w));
        assertEq(amount, 2 * REWARD);
        assertEq(w.balance, before + 2 * REWARD);
        assertEq(escrow.balanceOf(w), 0);
    }

    function test_withdraw_emitsWithdrawn() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.Withdrawn(worker(2), worker(2), REWARD);
        escrow.withdraw(payable(worker(2)));
    }

    function test_withdraw_revertsWhenNothingOwed() public {
        address nobody = makeAddr("nobody");
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NothingToWithdraw.selector, nobody));
        escrow.withdraw(payable(nobody));
    }

    function test_withdraw_revertsWhenTransferFails() public {
        Rejecter r = new Rejecter();
        _jobPaying(address(r));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TransferFailed.selector, address(r), REWARD));
        escrow.withdraw(payable(address(r)));
    }

    function test_withdraw_isNotReentrant() public {
        Reenterer r = new Reenterer(escrow);
        _jobPaying(address(r));
        escrow.withdraw(payable(address(r)));
        // The nested call failed (balance already zero / guard), so it was paid exactly once.
        assertEq(address(r).balance, REWARD);
        assertEq(r.reentered(), false);
    }

    function test_refund_returnsUnspentAfterDeadline() public {
        vm.warp(block.timestamp + 1 hours + 1);
        uint256 before = requester.balance;
        uint256 amount = escrow.refund(id);
        assertEq(amount, 30 * REWARD - 5 * REWARD);
        assertEq(requester.balance, before + amount);
        assertTrue(escrow.getJob(id).refunded);
        assertEq(address(escrow).balance, 5 * REWARD);
    }

    function test_refund_emitsRefunded() public {
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectEmit(address(escrow));
        emit JobEscrow.Refunded(id, requester, 25 * REWARD);
        escrow.refund(id);
    }

    function test_refund_revertsBeforeDeadline() public {
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotExpired.selector, id, escrow.getJob(id).deadline));
        escrow.refund(id);
    }

    function test_refund_revertsTwice() public {
        vm.warp(block.timestamp + 1 hours + 1);
        escrow.refund(id);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AlreadyRefunded.selector, id));
        escrow.refund(id);
    }

    function test_refund_revertsOnUnknownJob() public {
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.UnknownJob.selector, bytes32(0)));
        escrow.refund(bytes32(0));
    }

    function test_refund_revertsWhenRequesterRejects() public {
        Rejecter r = new Rejecter();
        vm.deal(address(r), 1 ether);
        JobEscrow.JobParams memory p = params(1, 1, 1);
        vm.prank(address(r));
        bytes32 job = escrow.createJob{value: REWARD}(p);
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TransferFailed.selector, address(r), REWARD));
        escrow.refund(job);
    }

    /// Contracts cannot sign results, so a contract is credited the way any reporter is: by
    /// slashing an equivocating worker (half of its 2 × REWARD stake).
    function _jobPaying(address to) private returns (bytes32 job) {
        job = createJob(1, 1, 1);
        address w = worker(7);
        vm.deal(w, 2 * REWARD);
        vm.prank(w);
        escrow.stake{value: 2 * REWARD}();
        bytes memory a = sign(workerKeys[7], job, 0, keccak256("a"));
        bytes memory b = sign(workerKeys[7], job, 0, keccak256("b"));
        vm.prank(to);
        escrow.slash(job, 0, keccak256("a"), a, keccak256("b"), b);
        assertEq(escrow.balanceOf(to), REWARD);
    }
}

contract Rejecter {
    receive() external payable {
        revert("no");
    }
}

contract Reenterer {
    JobEscrow private immutable escrow;
    bool public reentered;

    constructor(JobEscrow e) {
        escrow = e;
    }

    receive() external payable {
        try escrow.withdraw(payable(address(this))) {
            reentered = true;
        } catch {}
    }
}

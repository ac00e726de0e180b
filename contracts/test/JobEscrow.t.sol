// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {JobEscrow} from "../src/JobEscrow.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";
import {CostlyReceiver, EtherRefuser, GasGuzzler, RefundlessRequester} from "./RefundHelpers.sol";

contract JobEscrowCreateTest is JobEscrowBase {
    function test_createJob_escrowsAndStores() public {
        JobEscrow.JobParams memory p = params(30, 3, 2);
        p.feePerTask = FEE;
        p.minStake = 1 ether;
        vm.roll(12_345);
        bytes32 id = open(p);
        JobEscrow.Job memory j = escrow.getJob(id);
        assertEq(j.requester, requester);
        assertEq(j.coordinator, coordinator);
        assertEq(j.taskCount, 30);
        assertEq(j.recordedCount, 0);
        assertEq(j.replicas, 3);
        assertEq(j.quorum, 2);
        assertFalse(j.refunded);
        assertFalse(j.callback);
        assertEq(j.rewardPerResult, REWARD);
        assertEq(j.remaining, 90 * REWARD);
        assertEq(j.feePerTask, FEE);
        assertEq(j.feesLeft, 30 * FEE);
        assertEq(j.minStake, 1 ether);
        assertEq(j.deadline, p.deadline);
        assertEq(j.modelHash, keccak256("model"));
        assertEq(j.inputsRoot, keccak256("inputs"));
        assertEq(j.policy, bytes32("exact"));
        assertEq(j.createdBlock, 12_345);
        assertEq(address(escrow).balance, 90 * REWARD + 30 * FEE);
    }

    function test_createJob_revertsOnADeadlineBeyond40Bits() public {
        JobEscrow.JobParams memory p = params(1, 1, 1);
        p.deadline = uint64(1) << 40;
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 40, p.deadline));
        escrow.createJob{value: REWARD}(p);
    }

    function test_getJob_ofAnUnknownIdIsAllZeros() public view {
        JobEscrow.Job memory j = escrow.getJob(keccak256("nope"));
        // Eighteen static fields, every one of them zero.
        assertEq(abi.encode(j), new bytes(18 * 32));
    }

    function test_created_setsABitPerExistingId() public {
        bytes32 a = createJob(1, 1, 1);
        bytes32 b = createJob(1, 1, 1);
        bytes32[] memory ids = new bytes32[](4);
        ids[0] = keccak256("nope");
        ids[1] = a;
        ids[2] = keccak256("nope either");
        ids[3] = b;
        assertEq(escrow.created(ids), (1 << 1) | (1 << 3));
        assertEq(escrow.created(new bytes32[](0)), 0);
    }

    function test_created_revertsOnMoreThan256Ids() public {
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TooManyIds.selector, 257));
        escrow.created(new bytes32[](257));
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
        p.feePerTask = FEE;
        bytes32 expectedId = keccak256(abi.encode(block.chainid, address(escrow), requester, uint256(0)));
        vm.expectEmit(address(escrow));
        emit JobEscrow.JobCreated(
            expectedId, requester, coordinator, p.modelHash, p.inputsRoot, p.policy, 4, 2, 2, REWARD, FEE, 0, p.deadline
        );
        open(p);
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

    function test_createJob_revertsWithoutCoordinator() public {
        JobEscrow.JobParams memory p = params(1, 1, 1);
        p.coordinator = address(0);
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        escrow.createJob{value: REWARD}(p);
    }

    function test_createJob_revertsOnWrongEscrow_feesIncluded() public {
        JobEscrow.JobParams memory p = params(2, 3, 2);
        p.feePerTask = FEE;
        // Rewards alone are not enough: the fees are escrowed too.
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongEscrow.selector, 6 * REWARD + 2 * FEE, 6 * REWARD));
        escrow.createJob{value: 6 * REWARD}(p);
    }

    function test_createJob_revertsWhenTheRewardsExceed128Bits() public {
        JobEscrow.JobParams memory p = params(2, 1, 1);
        p.rewardPerResult = type(uint128).max;
        uint256 value = 2 * uint256(type(uint128).max);
        vm.deal(address(this), value);
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 128, value));
        escrow.createJob{value: value}(p);
    }

    function testFuzz_createJob_requiresExactEscrow(
        uint32 tasks,
        uint8 replicas,
        uint8 quorum,
        uint128 fee,
        uint256 sent
    ) public {
        tasks = uint32(bound(tasks, 1, 1_000_000));
        replicas = uint8(bound(replicas, 1, 32));
        quorum = uint8(bound(quorum, 1, replicas));
        fee = uint128(bound(fee, 0, 1e16));
        JobEscrow.JobParams memory p = params(tasks, replicas, quorum);
        p.feePerTask = fee;
        uint256 expected = escrowOf(p);
        sent = bound(sent, 0, expected * 2);
        vm.deal(address(this), sent);
        if (sent != expected) vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongEscrow.selector, expected, sent));
        escrow.createJob{value: sent}(p);
    }
}

contract JobEscrowRedeemTest is JobEscrowBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = createJob(10, 3, 2); // 30 results of REWARD at most
    }

    function test_redeem_creditsTheWorker() public {
        vm.prank(makeAddr("relayer")); // anyone may send it
        uint256 paid = escrow.redeem(one(claim(id, worker(0), 4)));
        assertEq(paid, 4 * REWARD);
        assertEq(escrow.balanceOf(worker(0)), 4 * REWARD);
        assertEq(escrow.redeemedOf(id, worker(0)), 4);
        assertEq(escrow.accountOf(worker(0)).settledResults, 4);
        assertEq(escrow.getJob(id).remaining, 26 * REWARD);
        assertEq(escrow.balanceOf(makeAddr("relayer")), 0);
    }

    function test_redeem_emitsClaimRedeemed() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.ClaimRedeemed(id, worker(1), 3, 3 * REWARD);
        escrow.redeem(one(claim(id, worker(1), 3)));
    }

    function test_redeem_newerClaimPaysOnlyTheDifference() public {
        escrow.redeem(one(claim(id, worker(0), 4)));
        vm.expectEmit(address(escrow));
        emit JobEscrow.ClaimRedeemed(id, worker(0), 7, 3 * REWARD);
        assertEq(escrow.redeem(one(claim(id, worker(0), 7))), 3 * REWARD);
        assertEq(escrow.balanceOf(worker(0)), 7 * REWARD);
        assertEq(escrow.accountOf(worker(0)).settledResults, 7);
    }

    /// A claim redeemed twice (a race, or a copy) pays once; the second is skipped: no revert,
    /// no event, no write.
    function test_redeem_sameClaimTwice_paysNothingMoreAndDoesNotRevert() public {
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 4));
        escrow.redeem(c);
        vm.recordLogs();
        assertEq(escrow.redeem(c), 0);
        assertEq(vm.getRecordedLogs().length, 0);
        assertEq(escrow.balanceOf(worker(0)), 4 * REWARD);
        assertEq(escrow.redeemedOf(id, worker(0)), 4);
        assertEq(escrow.accountOf(worker(0)).settledResults, 4);
        assertEq(escrow.getJob(id).remaining, 26 * REWARD);
    }

    function test_redeem_sameClaimTwiceInOneBatch_paysOnce() public {
        JobEscrow.Claim memory c = claim(id, worker(0), 4);
        assertEq(escrow.redeem(two(c, c)), 4 * REWARD);
        assertEq(escrow.balanceOf(worker(0)), 4 * REWARD);
    }

    /// The griefing fix: someone front-runs the coordinator's end-of-job batch with one of its
    /// claims. The batch still pays everyone else, and that worker exactly once.
    function test_redeem_aFrontRunClaim_doesNotFailTheBatch() public {
        JobEscrow.Claim[] memory batch = new JobEscrow.Claim[](3);
        for (uint256 i = 0; i < 3; ++i) {
            batch[i] = claim(id, worker(i), uint32(3 + i));
        }
        vm.prank(makeAddr("griefer"));
        escrow.redeem(one(batch[1]));
        vm.recordLogs();
        assertEq(escrow.redeem(batch), 8 * REWARD); // 3 + 5: worker 1's 4 were paid already
        assertEq(vm.getRecordedLogs().length, 2);
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(escrow.balanceOf(worker(i)), (3 + i) * REWARD);
        }
        assertEq(escrow.getJob(id).remaining, 18 * REWARD);
    }

    /// A skipped claim is still checked first: a bad signature, a closed window or a refunded job
    /// still revert, so skipping never lets an unchecked claim through.
    function test_redeem_aDuplicateIsStillCheckedBeforeItIsSkipped() public {
        JobEscrow.Claim memory c = claim(id, worker(0), 4);
        escrow.redeem(one(c));
        JobEscrow.Claim[] memory forged = one(claimBy(0xA11CE, id, worker(0), 4));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, id, vm.addr(0xA11CE), coordinator));
        escrow.redeem(forged);
        JobEscrow.Claim[] memory again = one(c);
        uint256 closes = closesAt(id);
        vm.warp(closes + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowClosed.selector, id, closes));
        escrow.redeem(again);
        escrow.refund(id);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AlreadyRefunded.selector, id));
        escrow.redeem(again);
    }

    function test_redeem_olderClaimAfterANewerPaysNothing() public {
        JobEscrow.Claim[] memory older = one(claim(id, worker(0), 2));
        escrow.redeem(one(claim(id, worker(0), 5)));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimNotNewer.selector, id, worker(0), 2, 5));
        escrow.redeem(older);
        assertEq(escrow.balanceOf(worker(0)), 5 * REWARD);
    }

    /// Zero results is what a worker never paid has redeemed: skipped, and no account id given.
    function test_redeem_aClaimOfZeroResults_isSkipped() public {
        vm.recordLogs();
        assertEq(escrow.redeem(one(claim(id, worker(0), 0))), 0);
        assertEq(vm.getRecordedLogs().length, 0);
        assertEq(escrow.accountOf(worker(0)).id, 0);
        escrow.redeem(one(claim(id, worker(1), 1)));
        assertEq(escrow.accountOf(worker(1)).id, 1);
    }

    /// An older claim (fewer results than paid) is an error worth naming, in a batch too.
    function test_redeem_anOlderClaimInABatch_revertsTheBatch() public {
        escrow.redeem(one(claim(id, worker(0), 5)));
        JobEscrow.Claim[] memory c = two(claim(id, worker(1), 2), claim(id, worker(0), 4));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimNotNewer.selector, id, worker(0), 4, 5));
        escrow.redeem(c);
        assertEq(escrow.balanceOf(worker(1)), 0);
    }

    function test_redeem_batchPaysEveryWorker() public {
        JobEscrow.Claim[] memory c = new JobEscrow.Claim[](7);
        for (uint256 i = 0; i < 7; ++i) {
            c[i] = claim(id, worker(i), uint32(i + 1));
        }
        assertEq(escrow.redeem(c), 28 * REWARD); // 1 + 2 + ... + 7
        for (uint256 i = 0; i < 7; ++i) {
            assertEq(escrow.balanceOf(worker(i)), (i + 1) * REWARD);
        }
        assertEq(escrow.getJob(id).remaining, 2 * REWARD);
    }

    function test_redeem_workersShareRedeemedWordsWithoutMixingCounts() public {
        // Nine workers: ids 1-9, so two of them land in a second word of lanes.
        bytes32 big = createJob(100, 3, 2);
        JobEscrow.Claim[] memory c = new JobEscrow.Claim[](9);
        for (uint256 i = 0; i < 9; ++i) {
            address w = i < 8 ? worker(i) : makeAddr("ninth");
            c[i] = claim(big, w, uint32(10 + i));
        }
        escrow.redeem(c);
        for (uint256 i = 0; i < 9; ++i) {
            address w = i < 8 ? worker(i) : makeAddr("ninth");
            assertEq(escrow.redeemedOf(big, w), 10 + i);
            assertEq(escrow.redeemedOf(id, w), 0);
            assertEq(escrow.balanceOf(w), (10 + i) * REWARD);
        }
        assertEq(escrow.accountOf(makeAddr("ninth")).id, 9);
        escrow.redeem(one(claim(big, worker(3), 20)));
        assertEq(escrow.redeemedOf(big, worker(2)), 12);
        assertEq(escrow.redeemedOf(big, worker(3)), 20);
        assertEq(escrow.redeemedOf(big, worker(4)), 14);
    }

    function test_redeem_worksBeforeTheDeadlineAndUntilTheWindowCloses() public {
        escrow.redeem(one(claim(id, worker(0), 1)));
        vm.warp(closesAt(id));
        escrow.redeem(one(claim(id, worker(0), 2)));
        assertEq(escrow.balanceOf(worker(0)), 2 * REWARD);
    }

    function test_redeem_revertsOnUnknownJob() public {
        bytes32 other = keccak256("nope");
        JobEscrow.Claim[] memory c = one(claim(other, worker(0), 1));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.UnknownJob.selector, other));
        escrow.redeem(c);
    }

    function test_redeem_revertsAfterTheWindow() public {
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 1));
        uint256 closes = closesAt(id);
        vm.warp(closes + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowClosed.selector, id, closes));
        escrow.redeem(c);
    }

    function test_redeem_revertsAfterRefund() public {
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 1));
        vm.warp(closesAt(id) + 1);
        escrow.refund(id);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AlreadyRefunded.selector, id));
        escrow.redeem(c);
    }

    function test_redeem_revertsOnAWorkerSignedClaim() public {
        // The worker signs its own claim: worth nothing.
        JobEscrow.Claim[] memory c = one(claimBy(workerKeys[0], id, worker(0), 30));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, id, worker(0), coordinator));
        escrow.redeem(c);
    }

    function test_redeem_revertsOnAnAlteredClaim() public {
        JobEscrow.Claim memory c = claim(id, worker(0), 1);
        c.results = 30;
        JobEscrow.Claim[] memory batch = one(c);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.redeem(batch);
        c = claim(id, worker(0), 1);
        c.worker = worker(1);
        batch = one(c);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.redeem(batch);
    }

    function test_redeem_revertsOnAClaimForTheZeroAddress() public {
        JobEscrow.Claim[] memory c = one(claim(id, address(0), 1));
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        escrow.redeem(c);
    }

    function test_redeem_revertsAboveTaskCountTimesReplicas() public {
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 31));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimTooLarge.selector, id, 31, 30));
        escrow.redeem(c);
    }

    function test_redeem_revertsOnMalleableSignature() public {
        JobEscrow.Claim memory c = claim(id, worker(0), 1);
        bytes memory sig = c.signature;
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
        c.signature = abi.encodePacked(r, highS, v == 27 ? uint8(28) : uint8(27));
        JobEscrow.Claim[] memory batch = one(c);
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        escrow.redeem(batch);
    }

    function test_redeem_revertsOnShortSignature() public {
        JobEscrow.Claim memory c = claim(id, worker(0), 1);
        c.signature = hex"1234";
        JobEscrow.Claim[] memory batch = one(c);
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 2));
        escrow.redeem(batch);
    }

    /// A stranger with fresh keys signs claims for itself: nothing moves.
    function test_redeem_strangerWithFreshKeysMovesNothing() public {
        uint256 before = address(escrow).balance;
        address thief = makeAddr("thief");
        JobEscrow.Claim[] memory c = two(claimBy(0xA11CE, id, thief, 15), claimBy(0xB0B, id, thief, 15));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, id, vm.addr(0xA11CE), coordinator));
        vm.prank(thief);
        escrow.redeem(c);
        assertEq(escrow.balanceOf(thief), 0);
        assertEq(escrow.getJob(id).remaining, 30 * REWARD);
        assertEq(address(escrow).balance, before);
    }

    function testFuzz_redeem_onlyTheCoordinatorsKeyPays(uint256 key, uint32 results) public {
        key = bound(key, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        results = uint32(bound(results, 1, 30));
        JobEscrow.Claim[] memory c = one(claimBy(key, id, worker(0), results));
        if (key == coordinatorKey) {
            assertEq(escrow.redeem(c), results * REWARD);
        } else {
            vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, id, vm.addr(key), coordinator));
            escrow.redeem(c);
            assertEq(escrow.balanceOf(worker(0)), 0);
            assertEq(escrow.getJob(id).remaining, 30 * REWARD);
        }
    }

    function test_redeem_claimForOneJobIsWorthNothingInAnother() public {
        bytes32 other = createJob(10, 3, 2);
        JobEscrow.Claim memory c = claim(id, worker(0), 5);
        c.jobId = other;
        JobEscrow.Claim[] memory batch = one(c);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.redeem(batch);
        assertEq(escrow.redeemedOf(other, worker(0)), 0);
    }

    function test_redeem_claimIsWorthNothingOnAnotherChain() public {
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 5));
        vm.chainId(block.chainid + 1);
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.redeem(c);
        assertEq(escrow.balanceOf(worker(0)), 0);
    }

    function test_redeem_claimIsWorthNothingAgainstAnotherDeployment() public {
        JobEscrow other = new JobEscrow();
        vm.prank(requester);
        bytes32 otherJob = other.createJob{value: 30 * REWARD}(params(10, 3, 2));
        // The right coordinator, the other deployment's job, but signed under this deployment's domain.
        JobEscrow.Claim[] memory c = one(claim(otherJob, worker(0), 5));
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        other.redeem(c);
        assertEq(other.balanceOf(worker(0)), 0);
        assertEq(other.getJob(otherJob).remaining, 30 * REWARD);
    }

    /// The coordinator over-signs (more results in total than the escrow holds): claims are paid
    /// in full in the order they come, and the one that does not fit reverts without paying part.
    function test_redeem_overSignedClaimsPayTheFirstInFullAndRefuseTheRest() public {
        // 30 results of escrow; the coordinator signs 12 + 12 + 12.
        escrow.redeem(one(claim(id, worker(0), 12)));
        escrow.redeem(one(claim(id, worker(1), 12)));
        JobEscrow.Claim[] memory third = one(claim(id, worker(2), 12));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.InsufficientEscrow.selector, id, 12 * REWARD, 6 * REWARD));
        escrow.redeem(third);
        assertEq(escrow.balanceOf(worker(2)), 0);
        assertEq(escrow.redeemedOf(id, worker(2)), 0);
        assertEq(escrow.getJob(id).remaining, 6 * REWARD);
        // Nothing of worker 2's was marked paid: a claim that fits (re-signed for 6) pays in full.
        assertEq(escrow.redeem(one(claim(id, worker(2), 6))), 6 * REWARD);
        assertEq(escrow.getJob(id).remaining, 0);
    }

    function test_redeem_batchIsAllOrNothing() public {
        JobEscrow.Claim[] memory c = two(claim(id, worker(0), 20), claim(id, worker(1), 20));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.InsufficientEscrow.selector, id, 20 * REWARD, 10 * REWARD));
        escrow.redeem(c);
        assertEq(escrow.balanceOf(worker(0)), 0);
        assertEq(escrow.getJob(id).remaining, 30 * REWARD);
    }

    /// Whatever sequence of claims for one worker arrives, it is paid exactly its largest claim:
    /// a newer one pays the difference, the same one again nothing, an older one reverts.
    function testFuzz_redeem_cumulativeClaimsPayTheLargest(uint32[6] memory seq) public {
        uint32 best;
        for (uint256 i = 0; i < seq.length; ++i) {
            uint32 r = uint32(bound(seq[i], 0, 30));
            JobEscrow.Claim[] memory c = one(claim(id, worker(0), r));
            if (r > best) {
                assertEq(escrow.redeem(c), uint256(r - best) * REWARD);
                best = r;
            } else if (r == best) {
                assertEq(escrow.redeem(c), 0);
            } else {
                vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimNotNewer.selector, id, worker(0), r, best));
                escrow.redeem(c);
            }
        }
        assertEq(escrow.balanceOf(worker(0)), best * REWARD);
        assertEq(escrow.getJob(id).remaining, (30 - uint256(best)) * REWARD);
    }
}

contract JobEscrowRedeemRaceTest is JobEscrowBase {
    /// Any subset of a batch redeemed first, by anyone, in any amounts up to the batch's: the
    /// batch then pays exactly the rest, and every worker ends with exactly its claim.
    function testFuzz_redeem_batchPaysTheRestWhateverWasRedeemedFirst(uint256 seed) public {
        bytes32 id = createJob(10, 3, 2);
        JobEscrow.Claim[] memory batch = new JobEscrow.Claim[](6);
        uint256 total;
        uint256 paidFirst;
        for (uint256 i = 0; i < 6; ++i) {
            uint32 results = uint32(1 + (uint256(keccak256(abi.encode(seed, i))) % 5));
            batch[i] = claim(id, worker(i), results);
            total += results * REWARD;
            uint256 pick = uint256(keccak256(abi.encode(seed, i, "first"))) % 3;
            // 0: not redeemed first; 1: the same claim; 2: an older one.
            if (pick == 1) {
                escrow.redeem(one(batch[i]));
                paidFirst += results * REWARD;
            } else if (pick == 2 && results > 1) {
                escrow.redeem(one(claim(id, worker(i), results - 1)));
                paidFirst += (results - 1) * REWARD;
            }
        }
        assertEq(escrow.redeem(batch), total - paidFirst);
        for (uint256 i = 0; i < 6; ++i) {
            assertEq(escrow.balanceOf(worker(i)), batch[i].results * REWARD);
        }
        assertEq(escrow.getJob(id).remaining, 30 * REWARD - total);
    }
}

contract JobEscrowMinStakeTest is JobEscrowBase {
    bytes32 internal id;
    uint128 internal constant MIN = 1 ether;

    function setUp() public override {
        super.setUp();
        JobEscrow.JobParams memory p = params(10, 3, 2);
        p.minStake = MIN;
        id = open(p);
    }

    function test_redeem_revertsBelowTheJobsMinStake() public {
        vm.deal(worker(0), 10 ether);
        vm.prank(worker(0));
        escrow.stake{value: MIN - 1}();
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 3));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.StakeTooLow.selector, worker(0), MIN - 1, MIN));
        escrow.redeem(c);
        // Topped up (by anyone), the same claim pays.
        escrow.stakeFor{value: 1}(worker(0));
        assertEq(escrow.redeem(c), 3 * REWARD);
    }

    function test_redeem_countsOnlyActiveStake() public {
        vm.deal(worker(0), 10 ether);
        vm.prank(worker(0));
        escrow.stake{value: MIN}();
        vm.prank(worker(0));
        escrow.requestUnstake(1);
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 3));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.StakeTooLow.selector, worker(0), MIN - 1, MIN));
        escrow.redeem(c);
    }

    /// A worker paid, then unstaked below the job's minimum: its claim again is skipped (it pays
    /// nothing), so the coordinator's batch carrying it still pays the others.
    function test_redeem_aPaidClaimOfAWorkerThatUnstaked_isSkipped() public {
        escrow.stakeFor{value: MIN}(worker(0));
        escrow.stakeFor{value: MIN}(worker(1));
        JobEscrow.Claim memory c0 = claim(id, worker(0), 3);
        escrow.redeem(one(c0));
        vm.prank(worker(0));
        escrow.requestUnstake(MIN);
        assertEq(escrow.redeem(two(c0, claim(id, worker(1), 2))), 2 * REWARD);
        // A newer claim of the unstaked worker is still refused.
        JobEscrow.Claim[] memory newer = one(claim(id, worker(0), 4));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.StakeTooLow.selector, worker(0), 0, MIN));
        escrow.redeem(newer);
    }

    function testFuzz_redeem_paysExactlyAtOrAboveMinStake(uint128 staked) public {
        staked = uint128(bound(staked, 1, 3 ether));
        vm.deal(address(this), staked);
        escrow.stakeFor{value: staked}(worker(0));
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 3));
        if (staked < MIN) {
            vm.expectRevert(abi.encodeWithSelector(JobEscrow.StakeTooLow.selector, worker(0), staked, MIN));
        }
        escrow.redeem(c);
        assertEq(escrow.balanceOf(worker(0)), staked < MIN ? 0 : 3 * REWARD);
    }
}

contract JobEscrowRefundTest is JobEscrowBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        JobEscrow.JobParams memory p = params(10, 3, 2);
        p.feePerTask = FEE;
        id = open(p); // 30 REWARD + 10 FEE
    }

    function test_refund_revertsBeforeTheWindowCloses() public {
        uint256 closes = closesAt(id);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowOpen.selector, id, closes));
        escrow.refund(id);
        vm.warp(escrow.getJob(id).deadline + 1); // past the deadline, inside the window
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowOpen.selector, id, closes));
        vm.prank(requester);
        escrow.refund(id);
        vm.warp(closes);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowOpen.selector, id, closes));
        escrow.refund(id);
    }

    function test_refund_workersRedeemInsideTheWindowAfterTheRequesterTried() public {
        JobEscrow.Claim[] memory c = one(claim(id, worker(0), 9));
        vm.warp(escrow.getJob(id).deadline + 1 hours);
        vm.prank(requester);
        try escrow.refund(id) {
            revert("refunded inside the window");
        } catch {}
        assertEq(escrow.redeem(c), 9 * REWARD);
        vm.warp(closesAt(id) + 1);
        assertEq(escrow.refund(id), 21 * REWARD + 10 * FEE);
    }

    function test_refund_returnsExactlyTheRest() public {
        escrow.redeem(one(claim(id, worker(0), 5)));
        escrow.redeem(one(claim(id, worker(1), 4)));
        recordAs(makeAddr("relayer"), id, recs(0, 3));
        vm.warp(closesAt(id) + 1);
        uint256 before = requester.balance;
        vm.expectEmit(address(escrow));
        emit JobEscrow.Refunded(id, requester, 21 * REWARD + 7 * FEE);
        uint256 amount = escrow.refund(id);
        assertEq(amount, 21 * REWARD + 7 * FEE);
        assertEq(requester.balance, before + amount);
        JobEscrow.Job memory j = escrow.getJob(id);
        assertTrue(j.refunded);
        assertEq(j.remaining, 0);
        assertEq(j.feesLeft, 0);
        // What stays is exactly what is credited and not withdrawn.
        assertEq(address(escrow).balance, 9 * REWARD + 3 * FEE);
    }

    function test_refund_revertsTwice() public {
        vm.warp(closesAt(id) + 1);
        escrow.refund(id);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AlreadyRefunded.selector, id));
        escrow.refund(id);
    }

    function test_refund_revertsOnUnknownJob() public {
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.UnknownJob.selector, bytes32(0)));
        escrow.refund(bytes32(0));
    }

    /// The stranding bug: a contract requester without receive() made every refund of its job
    /// revert, forever. Now the refund is credited to it, and it withdraws where it names.
    function test_refund_toARequesterWithoutReceive_isCredited_andWithdrawnWhereItNames() public {
        uint256 base = address(escrow).balance; // the setUp job's
        RefundlessRequester r = new RefundlessRequester();
        bytes32 job = r.open{value: 3 * REWARD}(escrow, params(1, 3, 2));
        escrow.redeem(one(claim(job, worker(0), 1)));
        vm.warp(closesAt(job) + 1);
        vm.expectEmit(address(escrow));
        emit JobEscrow.Refunded(job, address(r), 2 * REWARD);
        vm.expectEmit(address(escrow));
        emit JobEscrow.RefundCredited(job, address(r), 2 * REWARD);
        vm.prank(makeAddr("anyone"));
        assertEq(escrow.refund(job), 2 * REWARD);
        assertTrue(escrow.getJob(job).refunded);
        assertEq(escrow.refundsOf(address(r)), 2 * REWARD);
        // Every wei the escrow holds is owed: the worker's pay and the credited refund.
        assertEq(address(escrow).balance - base, 3 * REWARD);

        // Only the requester withdraws it, to a non-zero address that takes it.
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NoRefundHeld.selector, address(this)));
        escrow.withdrawRefund(payable(address(this)));
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        r.withdrawRefund(escrow, payable(address(0)));
        EtherRefuser refuser = new EtherRefuser();
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TransferFailed.selector, address(refuser), 2 * REWARD));
        r.withdrawRefund(escrow, payable(address(refuser)));
        assertEq(escrow.refundsOf(address(r)), 2 * REWARD);
        address treasury = makeAddr("treasury");
        vm.expectEmit(address(escrow));
        emit JobEscrow.RefundWithdrawn(address(r), treasury, 2 * REWARD);
        assertEq(r.withdrawRefund(escrow, payable(treasury)), 2 * REWARD);
        assertEq(treasury.balance, 2 * REWARD);
        assertEq(escrow.refundsOf(address(r)), 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NoRefundHeld.selector, address(r)));
        r.withdrawRefund(escrow, payable(treasury));
        assertEq(address(escrow).balance - base, REWARD);
    }

    /// A requester that burns all the gas it is given is credited, not able to make the refund
    /// (or its caller) run out of gas.
    function test_refund_toARequesterThatBurnsItsGas_isCredited() public {
        GasGuzzler g = new GasGuzzler();
        bytes32 job = g.open{value: REWARD}(escrow, params(1, 1, 1));
        vm.warp(closesAt(job) + 1);
        escrow.refund{gas: 1_000_000}(job);
        assertEq(escrow.refundsOf(address(g)), REWARD);
    }

    /// Anyone may refund a plain job, but not choose to starve the requester's receive(): with
    /// less than REFUND_GAS to give it the refund reverts (and can be sent again) rather than
    /// credit a requester that takes ether. Whatever gas the caller sends, such a requester is
    /// paid or nothing happens; it is never credited.
    function testFuzz_refund_noGasLimitCreditsARequesterThatTakesEther(uint32 gas) public {
        gas = uint32(bound(gas, 20_000, 400_000));
        CostlyReceiver c = new CostlyReceiver();
        bytes32 job = c.open{value: REWARD}(escrow, params(1, 1, 1));
        vm.warp(closesAt(job) + 1);
        (bool ok, bytes memory ret) =
            address(escrow).call{gas: gas}(abi.encodeWithSelector(JobEscrow.refund.selector, job));
        assertEq(escrow.refundsOf(address(c)), 0);
        if (ok) {
            assertEq(address(c).balance, REWARD);
            assertTrue(escrow.getJob(job).refunded);
        } else {
            // Out of gas before the check (no data), or the check itself.
            if (ret.length != 0) assertEq(bytes4(ret), JobEscrow.NotEnoughGasForRefund.selector);
            assertFalse(escrow.getJob(job).refunded);
            assertEq(address(c).balance, 0);
        }
    }

    function test_refund_mustLeaveTheRequesterItsGas() public {
        CostlyReceiver c = new CostlyReceiver();
        bytes32 job = c.open{value: REWARD}(escrow, params(1, 1, 1));
        vm.warp(closesAt(job) + 1);
        (bool ok, bytes memory ret) =
            address(escrow).call{gas: 100_000}(abi.encodeWithSelector(JobEscrow.refund.selector, job));
        assertFalse(ok);
        assertEq(bytes4(ret), JobEscrow.NotEnoughGasForRefund.selector);
        assertFalse(escrow.getJob(job).refunded);
        escrow.refund(job);
        assertEq(address(c).balance, REWARD);
        assertEq(c.received(), 1);
    }

    /// Whoever the requester is (an account, a contract that takes ether, one that refuses it,
    /// one without receive), the refund goes through and every wei of it is the requester's:
    /// sent, or credited to it.
    function testFuzz_refund_neverStrands(uint8 kind, uint32 redeemed) public {
        redeemed = uint32(bound(redeemed, 0, 3));
        uint256 base = address(escrow).balance; // the setUp job's
        address req;
        bytes32 job;
        JobEscrow.JobParams memory p = params(1, 3, 2);
        kind %= 4;
        if (kind == 0) {
            req = requester;
            job = open(p);
        } else if (kind == 1) {
            CostlyReceiver c = new CostlyReceiver();
            req = address(c);
            job = c.open{value: 3 * REWARD}(escrow, p);
        } else if (kind == 2) {
            GasGuzzler g = new GasGuzzler();
            req = address(g);
            job = g.open{value: 3 * REWARD}(escrow, p);
        } else {
            RefundlessRequester r = new RefundlessRequester();
            req = address(r);
            job = r.open{value: 3 * REWARD}(escrow, p);
        }
        if (redeemed > 0) escrow.redeem(one(claim(job, worker(0), redeemed)));
        vm.warp(closesAt(job) + 1);
        uint256 before = req.balance;
        uint256 amount = escrow.refund(job);
        assertEq(amount, (3 - uint256(redeemed)) * REWARD);
        assertEq(req.balance - before + escrow.refundsOf(req), amount);
        // Only the ones that cannot take ether are credited.
        assertEq(escrow.refundsOf(req) != 0, amount != 0 && kind >= 2);
        assertEq(address(escrow).balance - base, uint256(redeemed) * REWARD + escrow.refundsOf(req));
    }

    function testFuzz_refund_onlyAfterTheWindow_returnsTheRest(uint32 redeemed, uint32 recorded, uint64 wait) public {
        redeemed = uint32(bound(redeemed, 0, 30));
        recorded = uint32(bound(recorded, 0, 10));
        wait = uint64(bound(wait, 0, 3 days));
        if (redeemed > 0) escrow.redeem(one(claim(id, worker(0), redeemed)));
        if (recorded > 0) recordAs(makeAddr("relayer"), id, recs(0, recorded));
        vm.warp(block.timestamp + wait);
        uint256 closes = closesAt(id);
        if (block.timestamp <= closes) {
            vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowOpen.selector, id, closes));
            escrow.refund(id);
        } else {
            assertEq(escrow.refund(id), (30 - uint256(redeemed)) * REWARD + (10 - uint256(recorded)) * FEE);
        }
    }
}

contract JobEscrowWithdrawTest is JobEscrowBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = createJob(10, 3, 2);
        escrow.redeem(two(claim(id, worker(0), 2), claim(id, worker(2), 1)));
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
        // Its record stays.
        assertEq(escrow.accountOf(w).settledResults, 2);
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
        escrow.redeem(one(claim(id, address(r), 1)));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TransferFailed.selector, address(r), REWARD));
        escrow.withdraw(payable(address(r)));
        assertEq(escrow.balanceOf(address(r)), REWARD);
    }

    function test_withdraw_isNotReentrant() public {
        Reenterer r = new Reenterer(escrow);
        escrow.redeem(one(claim(id, address(r), 1)));
        escrow.withdraw(payable(address(r)));
        // The nested call failed (guard), so it was paid exactly once.
        assertEq(address(r).balance, REWARD);
        assertEq(r.reentered(), false);
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

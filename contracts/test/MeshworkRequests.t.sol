// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {JobEscrow} from "../src/JobEscrow.sol";
import {MeshworkRequests} from "../src/MeshworkRequests.sol";
import {ExampleConsumer} from "../src/examples/ExampleConsumer.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";
import {CostlyReceiver, EtherRefuser, RefundlessConsumer} from "./RefundHelpers.sol";

/// @dev A consumer whose callback always fails.
contract RevertingConsumer {
    MeshworkRequests internal meshwork;

    constructor(MeshworkRequests m) {
        meshwork = m;
    }

    function ask(bytes calldata input) external payable returns (uint256) {
        return meshwork.request{value: msg.value}(
            keccak256("model"), input, bytes32("exact"), 2, 2, 1 hours, false, address(0), 0
        );
    }

    function onMeshworkResult(uint256, bytes32, bytes calldata) external pure {
        revert("no");
    }
}

contract MeshworkRequestsTest is JobEscrowBase {
    MeshworkRequests internal meshwork;
    ExampleConsumer internal consumer;
    bytes internal constant INPUT = hex"a16178a3616466666c6f61743332";
    bytes internal constant RESULT = hex"a1617901";
    uint256 internal constant PAYMENT = 2e15;

    event Requested(
        uint256 indexed requestId,
        address indexed consumer,
        bytes32 indexed jobId,
        bytes32 modelHash,
        bytes32 inputHash,
        bytes input,
        bool wantBytes,
        address coordinator,
        uint128 minStake
    );
    event Answered(uint256 indexed requestId, bytes32 resultHash);
    event Delivered(uint256 indexed requestId, bool withBytes, bool callbackOk);
    event Answer(uint256 indexed requestId, bytes32 resultHash, bytes result);
    event RequestRefunded(uint256 indexed requestId, address indexed consumer, uint256 amount);
    event RefundCredited(uint256 indexed requestId, address indexed consumer, uint256 amount);
    event RefundWithdrawn(address indexed consumer, address indexed to, uint256 amount);

    function setUp() public override {
        super.setUp();
        meshwork = new MeshworkRequests(escrow, coordinator);
        consumer = new ExampleConsumer(meshwork, keccak256("model"), bytes32("argmax"));
        vm.deal(address(this), 100 ether);
    }

    function test_deployedBlock_isTheBlockOfDeployment() public {
        vm.roll(4242);
        MeshworkRequests later = new MeshworkRequests(escrow, coordinator);
        assertEq(later.deployedBlock(), 4242);
    }

    function ask() internal returns (uint256 id, bytes32 jobId) {
        id = consumer.ask{value: PAYMENT}(INPUT);
        jobId = meshwork.getRequest(id).jobId;
    }

    /// @dev The coordinator records the request's one task with `result`.
    function answer(bytes32 jobId, bytes memory result) internal {
        recordAs(makeAddr("bridge"), jobId, rec(0, keccak256(result)));
    }

    function test_constructor_needsADefaultCoordinator() public {
        vm.expectRevert(MeshworkRequests.ZeroAddress.selector);
        new MeshworkRequests(escrow, address(0));
        assertEq(meshwork.defaultCoordinator(), coordinator);
    }

    function test_request_isAOneTaskJobPaidByTheRequest() public {
        (uint256 id, bytes32 jobId) = ask();
        assertEq(id, 0);
        JobEscrow.Job memory j = escrow.getJob(jobId);
        assertEq(j.requester, address(meshwork));
        assertEq(j.coordinator, coordinator);
        assertTrue(j.callback);
        assertEq(j.taskCount, 1);
        assertEq(j.replicas, 2);
        assertEq(j.quorum, 2);
        assertEq(j.rewardPerResult, PAYMENT / 2);
        assertEq(j.remaining, PAYMENT);
        assertEq(j.feePerTask, 0);
        assertEq(j.minStake, 0);
        assertEq(j.modelHash, keccak256("model"));
        assertEq(j.policy, bytes32("argmax"));
        // The one-leaf Merkle root that Meshwork's input proofs check against.
        assertEq(j.inputsRoot, keccak256(abi.encodePacked(uint32(0), keccak256(INPUT))));
        assertEq(meshwork.requestOfJob(jobId), 1);
        MeshworkRequests.Request memory r = meshwork.getRequest(id);
        assertEq(r.consumer, address(consumer));
        assertEq(r.coordinator, coordinator);
        assertEq(address(meshwork).balance, 0);
    }

    function test_request_withItsOwnCoordinatorAndMinStake_announcesThem() public {
        address mine = makeAddr("my coordinator");
        bytes32 jobId = keccak256(abi.encode(block.chainid, address(escrow), address(meshwork), uint256(0)));
        vm.expectEmit(address(meshwork));
        emit Requested(0, address(this), jobId, keccak256("model"), keccak256(INPUT), INPUT, false, mine, 1 ether);
        meshwork.request{value: PAYMENT}(
            keccak256("model"), INPUT, bytes32("exact"), 2, 2, 1 hours, false, mine, 1 ether
        );
        JobEscrow.Job memory j = escrow.getJob(jobId);
        assertEq(j.coordinator, mine);
        assertEq(j.minStake, 1 ether);
        assertEq(meshwork.getRequest(0).coordinator, mine);
    }

    function test_record_answersTheRequest_thenDeliveryCallsTheConsumer() public {
        (uint256 id, bytes32 jobId) = ask();
        vm.expectEmit(address(meshwork));
        emit Answered(id, keccak256(RESULT));
        answer(jobId, RESULT);
        MeshworkRequests.Request memory r = meshwork.getRequest(id);
        assertTrue(r.answered);
        assertEq(r.resultHash, keccak256(RESULT));
        assertEq(consumer.callbacks(), 0);
        // The coordinator pays the volunteers with claims, as for any job.
        escrow.redeem(two(claim(jobId, worker(0), 1), claim(jobId, worker(1), 1)));
        assertEq(escrow.balanceOf(worker(0)), PAYMENT / 2);

        vm.expectRevert(
            abi.encodeWithSelector(MeshworkRequests.WrongResult.selector, keccak256(RESULT), keccak256(hex"00"))
        );
        meshwork.deliver(id, hex"00");
        vm.expectEmit(address(consumer));
        emit Answer(id, keccak256(RESULT), RESULT);
        vm.expectEmit(address(meshwork));
        emit Delivered(id, true, true);
        meshwork.deliver(id, RESULT);
        assertEq(consumer.callbacks(), 1);
        assertEq(consumer.resultHashOf(id), keccak256(RESULT));
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.AlreadyDelivered.selector, id));
        meshwork.deliver(id, RESULT);
    }

    /// The example consumer's callback fits CONSUMER_GAS with a result of MAX_RESULT_BYTES.
    function test_deliver_atMaxResultBytes_theExampleConsumerSucceeds() public {
        bytes memory big = new bytes(meshwork.MAX_RESULT_BYTES());
        for (uint256 i = 0; i < big.length; ++i) {
            big[i] = bytes1(uint8(i * 7 + 1));
        }
        (uint256 id, bytes32 jobId) = ask();
        answer(jobId, big);
        vm.expectEmit(address(consumer));
        emit Answer(id, keccak256(big), big);
        vm.expectEmit(address(meshwork));
        emit Delivered(id, true, true);
        meshwork.deliver(id, big);
        assertEq(consumer.resultHashOf(id), keccak256(big));
    }

    function test_aResultFromAnyoneButTheCoordinatorIsRefused() public {
        (uint256 id, bytes32 jobId) = ask();
        bytes memory tasks = rec(0, keccak256(RESULT));
        // Two fresh worker keys agreeing mean nothing; the consumer's coordinator alone answers.
        bytes memory sig = signRecordBy(0xA11CE, jobId, tasks);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, jobId, vm.addr(0xA11CE), coordinator));
        escrow.record(jobId, tasks, address(0), sig);
        assertFalse(meshwork.getRequest(id).answered);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NotAnswered.selector, id));
        meshwork.deliver(id, RESULT);
    }

    function test_aRequestWithItsOwnCoordinator_isNotAnsweredByTheDefault() public {
        uint256 mineKey = 0xC0FFEE;
        meshwork.request{value: PAYMENT}(
            keccak256("model"), INPUT, bytes32("exact"), 2, 2, 1 hours, false, vm.addr(mineKey), 0
        );
        bytes32 jobId = meshwork.getRequest(0).jobId;
        bytes memory tasks = rec(0, keccak256(RESULT));
        bytes memory sig = signRecord(jobId, tasks); // the default coordinator
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotCoordinator.selector, jobId, coordinator, vm.addr(mineKey)));
        escrow.record(jobId, tasks, address(0), sig);
        escrow.record(jobId, tasks, address(0), signRecordBy(mineKey, jobId, tasks));
        assertTrue(meshwork.getRequest(0).answered);
    }

    function test_deliver_withoutBytes_onlyAfterTheDelay_whenBytesWereAskedFor() public {
        (uint256 id, bytes32 jobId) = ask();
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NotAnswered.selector, id));
        meshwork.deliver(id, RESULT);
        answer(jobId, RESULT);
        vm.expectRevert(
            abi.encodeWithSelector(MeshworkRequests.BytesWanted.selector, id, uint64(block.timestamp) + 1 hours)
        );
        meshwork.deliver(id, "");
        vm.warp(block.timestamp + 1 hours);
        meshwork.deliver(id, "");
        assertEq(consumer.callbacks(), 1);
        assertEq(consumer.resultHashOf(id), keccak256(RESULT));
    }

    function test_deliver_refusesResultsOverTheLimit() public {
        bytes memory big = new bytes(meshwork.MAX_RESULT_BYTES() + 1);
        (uint256 id, bytes32 jobId) = ask();
        answer(jobId, big);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.ResultTooLarge.selector, big.length));
        meshwork.deliver(id, big);
    }

    function test_aFailingConsumer_neitherBlocksRecordingNorDelivery() public {
        RevertingConsumer bad = new RevertingConsumer(meshwork);
        uint256 id = bad.ask{value: PAYMENT}(INPUT);
        answer(meshwork.getRequest(id).jobId, RESULT);
        vm.expectEmit(address(meshwork));
        emit Delivered(id, false, false);
        meshwork.deliver(id, "");
    }

    function test_onlyTheEscrowAnswers_andNoEtherArrivesButRefunds() public {
        ask();
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NotEscrow.selector, address(this)));
        meshwork.onTaskSettled(bytes32(0), 0, keccak256(RESULT));
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.UnexpectedPayment.selector, address(this), 1));
        (bool ok,) = address(meshwork).call{value: 1}("");
        ok;
        // Not even from the escrow outside a refund.
        vm.deal(address(escrow), 1 ether);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.UnexpectedPayment.selector, address(escrow), 1));
        vm.prank(address(escrow));
        (ok,) = address(meshwork).call{value: 1}("");
    }

    /// A worker that points its pay at MeshworkRequests cannot strand it there: the withdrawal
    /// fails and the pay stays the worker's, to send elsewhere.
    function test_payToMeshworkRequests_isRefusedAndStaysTheWorkers() public {
        (, bytes32 jobId) = ask();
        escrow.redeem(one(claim(jobId, worker(0), 1)));
        JobEscrow.PayoutAuth[] memory auths = new JobEscrow.PayoutAuth[](1);
        auths[0].worker = worker(0);
        auths[0].payout = address(meshwork);
        auths[0].nonce = 1;
        auths[0].signature = signDigest(
            workerKeys[0],
            digest(keccak256(abi.encode(escrow.PAYOUT_TYPEHASH(), worker(0), address(meshwork), uint64(1))))
        );
        escrow.setPayouts(auths);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.TransferFailed.selector, address(meshwork), PAYMENT / 2));
        escrow.withdraw(payable(worker(0)));
        assertEq(escrow.balanceOf(worker(0)), PAYMENT / 2);
        assertEq(address(meshwork).balance, 0);
    }

    function test_refund_afterTheWindow_paysTheConsumerWhatWasNotRedeemed() public {
        (uint256 id, bytes32 jobId) = ask();
        uint256 closes = closesAt(jobId);
        vm.warp(escrow.getJob(jobId).deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ClaimWindowOpen.selector, jobId, closes));
        meshwork.refund(id);
        // One volunteer redeems inside the window; the rest goes back.
        escrow.redeem(one(claim(jobId, worker(0), 1)));
        vm.warp(closes + 1);
        uint256 before = address(consumer).balance;
        meshwork.refund(id);
        assertEq(address(consumer).balance, before + PAYMENT / 2);
        assertTrue(meshwork.getRequest(id).refunded);
        assertEq(address(meshwork).balance, 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AlreadyRefunded.selector, jobId));
        meshwork.refund(id);
    }

    /// The stranding bug: anyone calling JobEscrow.refund on a request's job directly sent the
    /// ether to MeshworkRequests, whose own refund then failed with AlreadyRefunded.
    function test_refund_ofARequestsJob_directlyOnTheEscrow_isRefused() public {
        (uint256 id, bytes32 jobId) = ask();
        vm.warp(closesAt(jobId) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(JobEscrow.NotRequester.selector, jobId, address(this), address(meshwork))
        );
        escrow.refund(jobId);
        uint256 before = address(consumer).balance;
        meshwork.refund(id);
        assertEq(address(consumer).balance, before + PAYMENT);
    }

    /// The stranding bug: a consumer without receive() made its request's refund revert
    /// forever, and only MeshworkRequests may refund the job, so the escrow stayed locked. Now
    /// the refund is credited to the consumer, which withdraws it where it names.
    function test_refund_toAConsumerWithoutReceive_isCredited_andWithdrawnWhereItNames() public {
        RefundlessConsumer c = new RefundlessConsumer(meshwork);
        uint256 id = c.ask{value: PAYMENT}(INPUT);
        bytes32 jobId = meshwork.getRequest(id).jobId;
        escrow.redeem(one(claim(jobId, worker(0), 1)));
        vm.warp(closesAt(jobId) + 1);
        vm.expectEmit(address(meshwork));
        emit RequestRefunded(id, address(c), PAYMENT / 2);
        vm.expectEmit(address(meshwork));
        emit RefundCredited(id, address(c), PAYMENT / 2);
        vm.prank(makeAddr("anyone"));
        assertEq(meshwork.refund(id), PAYMENT / 2);
        assertTrue(escrow.getJob(jobId).refunded);
        assertEq(meshwork.refundsOf(address(c)), PAYMENT / 2);
        // What MeshworkRequests holds is exactly what it owes; the escrow credited it nothing.
        assertEq(address(meshwork).balance, PAYMENT / 2);
        assertEq(escrow.refundsOf(address(meshwork)), 0);

        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NoRefundHeld.selector, address(this)));
        meshwork.withdrawRefund(payable(address(this)));
        vm.expectRevert(MeshworkRequests.ZeroAddress.selector);
        c.withdrawRefund(payable(address(0)));
        EtherRefuser refuser = new EtherRefuser();
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.TransferFailed.selector, address(refuser), PAYMENT / 2));
        c.withdrawRefund(payable(address(refuser)));
        address treasury = makeAddr("treasury");
        vm.expectEmit(address(meshwork));
        emit RefundWithdrawn(address(c), treasury, PAYMENT / 2);
        assertEq(c.withdrawRefund(payable(treasury)), PAYMENT / 2);
        assertEq(treasury.balance, PAYMENT / 2);
        assertEq(address(meshwork).balance, 0);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NoRefundHeld.selector, address(c)));
        c.withdrawRefund(payable(treasury));
    }

    /// Anyone may call refund, but not choose to starve the consumer's receive(): whatever gas
    /// the caller sends, a consumer that takes ether is paid or nothing happens; never credited.
    function testFuzz_refund_noGasLimitCreditsAConsumerThatTakesEther(uint32 gas) public {
        gas = uint32(bound(gas, 30_000, 500_000));
        CostlyReceiver c = new CostlyReceiver();
        uint256 id = c.ask{value: PAYMENT}(meshwork, INPUT);
        vm.warp(closesAt(meshwork.getRequest(id).jobId) + 1);
        (bool ok, bytes memory ret) =
            address(meshwork).call{gas: gas}(abi.encodeWithSelector(MeshworkRequests.refund.selector, id));
        assertEq(meshwork.refundsOf(address(c)), 0);
        assertEq(address(meshwork).balance, 0);
        if (ok) {
            assertEq(address(c).balance, PAYMENT);
        } else {
            // Out of gas before a check (no data), or one of the checks (the escrow's or this one's).
            if (ret.length != 0) assertEq(bytes4(ret), MeshworkRequests.NotEnoughGasForRefund.selector);
            assertFalse(meshwork.getRequest(id).refunded);
            assertEq(address(c).balance, 0);
        }
    }

    /// The ttl overflow: `block.timestamp + ttl` panicked (0x11) for a huge ttl. Now a named error.
    function test_request_refusesATtlOverMaxTtl() public {
        uint64 max = meshwork.MAX_TTL();
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.TtlTooLong.selector, type(uint64).max, max));
        meshwork.request{value: PAYMENT}(
            keccak256("model"), INPUT, bytes32("exact"), 2, 2, type(uint64).max, false, address(0), 0
        );
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.TtlTooLong.selector, max + 1, max));
        meshwork.request{value: PAYMENT}(
            keccak256("model"), INPUT, bytes32("exact"), 2, 2, max + 1, false, address(0), 0
        );
        uint256 id = meshwork.request{value: PAYMENT}(
            keccak256("model"), INPUT, bytes32("exact"), 2, 2, max, false, address(0), 0
        );
        assertEq(escrow.getJob(meshwork.getRequest(id).jobId).deadline, block.timestamp + max);
    }

    function testFuzz_request_ttl(uint64 ttl) public {
        uint64 max = meshwork.MAX_TTL();
        if (ttl > max) {
            vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.TtlTooLong.selector, ttl, max));
        } else if (ttl == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(JobEscrow.DeadlineNotInFuture.selector, block.timestamp, block.timestamp)
            );
        }
        meshwork.request{value: PAYMENT}(keccak256("model"), INPUT, bytes32("exact"), 2, 2, ttl, false, address(0), 0);
        if (ttl != 0 && ttl <= max) {
            assertEq(escrow.getJob(meshwork.getRequest(0).jobId).deadline, block.timestamp + ttl);
        }
    }

    function test_request_checksInputAndPayment() public {
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.InputSize.selector, 0));
        meshwork.request{value: PAYMENT}(keccak256("model"), "", bytes32("exact"), 2, 2, 1 hours, false, address(0), 0);
        bytes memory huge = new bytes(meshwork.MAX_INPUT_BYTES() + 1);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.InputSize.selector, huge.length));
        meshwork.request{value: PAYMENT}(
            keccak256("model"), huge, bytes32("exact"), 2, 2, 1 hours, false, address(0), 0
        );
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.PaymentNotDivisible.selector, 3, 2));
        meshwork.request{value: 3}(keccak256("model"), INPUT, bytes32("exact"), 2, 2, 1 hours, false, address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.PaymentNotDivisible.selector, PAYMENT, 0));
        meshwork.request{value: PAYMENT}(
            keccak256("model"), INPUT, bytes32("exact"), 0, 0, 1 hours, false, address(0), 0
        );
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.UnknownRequest.selector, 7));
        meshwork.deliver(7, RESULT);
    }

    function testFuzz_request_paysOnlyVolunteersTheCoordinatorAccepts(uint256 strangerKey, uint8 replicas) public {
        strangerKey = bound(strangerKey, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        vm.assume(strangerKey != coordinatorKey);
        replicas = uint8(bound(replicas, 1, 8));
        uint256 payment = uint256(replicas) * 1e12;
        uint256 id = meshwork.request{value: payment}(
            keccak256("model"), INPUT, bytes32("exact"), replicas, 1, 1 hours, false, address(0), 0
        );
        bytes32 jobId = meshwork.getRequest(id).jobId;
        JobEscrow.Claim[] memory forged = one(claimBy(strangerKey, jobId, vm.addr(strangerKey), replicas));
        vm.expectPartialRevert(JobEscrow.NotCoordinator.selector);
        escrow.redeem(forged);
        escrow.redeem(one(claim(jobId, worker(0), replicas)));
        assertEq(escrow.balanceOf(worker(0)), payment);
        assertEq(escrow.getJob(jobId).remaining, 0);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobEscrow, IJobCallback} from "../src/JobEscrow.sol";
import {MeshworkRequests} from "../src/MeshworkRequests.sol";
import {ExampleConsumer} from "../src/examples/ExampleConsumer.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

/// @dev A consumer whose callback always fails.
contract RevertingConsumer {
    MeshworkRequests internal meshwork;

    constructor(MeshworkRequests m) {
        meshwork = m;
    }

    function ask(bytes calldata input) external payable returns (uint256) {
        return meshwork.request{value: msg.value}(keccak256("model"), input, bytes32("exact"), 2, 2, 1 hours, false);
    }

    function onMeshworkResult(uint256, bytes32, bytes calldata) external pure {
        revert("no");
    }
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

contract MeshworkRequestsTest is JobEscrowBase {
    MeshworkRequests internal meshwork;
    ExampleConsumer internal consumer;
    bytes internal constant INPUT = hex"a16178a3616466666c6f61743332";
    bytes internal constant RESULT = hex"a1617901";
    uint256 internal constant PAYMENT = 2e15;

    event Answered(uint256 indexed requestId, bytes32 resultHash);
    event Delivered(uint256 indexed requestId, bool withBytes, bool callbackOk);
    event CallbackFailed(bytes32 indexed jobId, uint32 indexed taskIndex);

    function setUp() public override {
        super.setUp();
        meshwork = new MeshworkRequests(escrow);
        consumer = new ExampleConsumer(meshwork, keccak256("model"), bytes32("argmax"));
        vm.deal(address(this), 100 ether);
    }

    function ask() internal returns (uint256 id, bytes32 jobId) {
        id = consumer.ask{value: PAYMENT}(INPUT);
        jobId = meshwork.getRequest(id).jobId;
    }

    function settleWith(bytes32 jobId, bytes memory result) internal {
        escrow.settle(one(cert(jobId, 0, keccak256(result), 2)));
    }

    function test_request_isAOneTaskJobPaidByTheRequest() public {
        (uint256 id, bytes32 jobId) = ask();
        assertEq(id, 0);
        JobEscrow.Job memory j = escrow.getJob(jobId);
        assertEq(j.requester, address(meshwork));
        assertTrue(j.callback);
        assertEq(j.taskCount, 1);
        assertEq(j.replicas, 2);
        assertEq(j.quorum, 2);
        assertEq(j.rewardPerResult, PAYMENT / 2);
        assertEq(j.remaining, PAYMENT);
        assertEq(j.modelHash, keccak256("model"));
        assertEq(j.policy, bytes32("argmax"));
        // The one-leaf Merkle root that Meshwork's input proofs check against.
        assertEq(j.inputsRoot, keccak256(abi.encodePacked(uint32(0), keccak256(INPUT))));
        assertEq(meshwork.requestOfJob(jobId), 1);
        assertEq(meshwork.getRequest(id).consumer, address(consumer));
    }

    function test_settlement_answersTheRequest_thenDeliveryCallsTheConsumer() public {
        (uint256 id, bytes32 jobId) = ask();
        vm.expectEmit(address(meshwork));
        emit Answered(id, keccak256(RESULT));
        settleWith(jobId, RESULT);
        assertEq(escrow.balanceOf(worker(0)), PAYMENT / 2);
        MeshworkRequests.Request memory r = meshwork.getRequest(id);
        assertTrue(r.answered);
        assertEq(r.resultHash, keccak256(RESULT));
        assertEq(consumer.callbacks(), 0);

        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.WrongResult.selector, keccak256(RESULT), keccak256(hex"00")));
        meshwork.deliver(id, hex"00");
        vm.expectEmit(address(meshwork));
        emit Delivered(id, true, true);
        meshwork.deliver(id, RESULT);
        assertEq(consumer.callbacks(), 1);
        assertEq(consumer.resultHashOf(id), keccak256(RESULT));
        assertEq(consumer.resultOf(id), RESULT);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.AlreadyDelivered.selector, id));
        meshwork.deliver(id, RESULT);
    }

    function test_deliver_withoutBytes_onlyAfterTheDelay_whenBytesWereAskedFor() public {
        (uint256 id, bytes32 jobId) = ask();
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NotAnswered.selector, id));
        meshwork.deliver(id, RESULT);
        settleWith(jobId, RESULT);
        vm.expectRevert(
            abi.encodeWithSelector(MeshworkRequests.BytesWanted.selector, id, uint64(block.timestamp) + 1 hours)
        );
        meshwork.deliver(id, "");
        vm.warp(block.timestamp + 1 hours);
        meshwork.deliver(id, "");
        assertEq(consumer.callbacks(), 1);
        assertEq(consumer.resultHashOf(id), keccak256(RESULT));
        assertEq(consumer.resultOf(id).length, 0);
    }

    function test_deliver_refusesResultsOverTheLimit() public {
        bytes memory big = new bytes(meshwork.MAX_RESULT_BYTES() + 1);
        (uint256 id, bytes32 jobId) = ask();
        settleWith(jobId, big);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.ResultTooLarge.selector, big.length));
        meshwork.deliver(id, big);
    }

    function test_aFailingConsumer_neitherBlocksSettlementNorDelivery() public {
        RevertingConsumer bad = new RevertingConsumer(meshwork);
        uint256 id = bad.ask{value: PAYMENT}(INPUT);
        settleWith(meshwork.getRequest(id).jobId, RESULT);
        assertEq(escrow.balanceOf(worker(1)), PAYMENT / 2);
        vm.expectEmit(address(meshwork));
        emit Delivered(id, false, false);
        meshwork.deliver(id, "");
    }

    function test_onlyTheEscrowAnswers() public {
        ask();
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NotEscrow.selector, address(this)));
        meshwork.onTaskSettled(bytes32(0), 0, keccak256(RESULT));
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.NotEscrow.selector, address(this)));
        (bool ok,) = address(meshwork).call{value: 1}("");
        ok;
    }

    function test_refund_afterTheDeadline_paysTheConsumerBack() public {
        (uint256 id, bytes32 jobId) = ask();
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotExpired.selector, jobId, uint64(block.timestamp + 1 hours)));
        meshwork.refund(id);
        vm.warp(block.timestamp + 1 hours + 1);
        uint256 before = address(consumer).balance;
        meshwork.refund(id);
        assertEq(address(consumer).balance, before + PAYMENT);
        assertTrue(meshwork.getRequest(id).refunded);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AlreadyRefunded.selector, jobId));
        meshwork.refund(id);
    }

    function test_request_checksInputAndPayment() public {
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.InputSize.selector, 0));
        meshwork.request{value: PAYMENT}(keccak256("model"), "", bytes32("exact"), 2, 2, 1 hours, false);
        bytes memory huge = new bytes(meshwork.MAX_INPUT_BYTES() + 1);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.InputSize.selector, huge.length));
        meshwork.request{value: PAYMENT}(keccak256("model"), huge, bytes32("exact"), 2, 2, 1 hours, false);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.PaymentNotDivisible.selector, 3, 2));
        meshwork.request{value: 3}(keccak256("model"), INPUT, bytes32("exact"), 2, 2, 1 hours, false);
        vm.expectRevert(abi.encodeWithSelector(MeshworkRequests.UnknownRequest.selector, 7));
        meshwork.deliver(7, RESULT);
    }

    function test_createJobWithCallback_needsAContract_andSurvivesAFailingCallback() public {
        JobEscrow.JobParams memory p = params(1, 2, 2);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.CallbackNeedsContract.selector, requester));
        escrow.createJobWithCallback{value: 2 * REWARD}(p);

        BadCallbackRequester bad = new BadCallbackRequester();
        bytes32 jobId = bad.open{value: 2 * REWARD}(escrow, p);
        vm.expectEmit(address(escrow));
        emit CallbackFailed(jobId, 0);
        escrow.settle(one(cert(jobId, 0, keccak256(RESULT), 2)));
        assertTrue(escrow.isSettled(jobId, 0));
        assertEq(escrow.balanceOf(worker(0)), REWARD);
    }

    function test_settle_mustLeaveTheCallbackItsGas() public {
        (, bytes32 jobId) = ask();
        JobEscrow.Certificate[] memory c = one(cert(jobId, 0, keccak256(RESULT), 2));
        // Enough for the signatures and the books, not for the callback's 100,000.
        (bool ok, bytes memory ret) =
            address(escrow).call{gas: 110_000}(abi.encodeWithSelector(JobEscrow.settle.selector, c));
        assertFalse(ok);
        assertEq(bytes4(ret), JobEscrow.NotEnoughGasForCallback.selector);
        assertFalse(escrow.isSettled(jobId, 0));
        escrow.settle(c);
        assertTrue(meshwork.getRequest(0).answered);
    }
}

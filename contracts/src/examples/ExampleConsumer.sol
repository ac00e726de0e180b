// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMeshworkConsumer, MeshworkRequests} from "../MeshworkRequests.sol";

/// @title An example consumer of Meshwork computations
/// @notice Asks for one model's inference on inputs it is given and keeps every answer's hash;
/// the answer's bytes are in its Answer event. A real consumer would act on the result in
/// onMeshworkResult, within MeshworkRequests.CONSUMER_GAS (200,000): storing a result of
/// MAX_RESULT_BYTES (1 KiB, 32 new slots) would cost over 700,000, so this one does not.
contract ExampleConsumer is IMeshworkConsumer {
    MeshworkRequests public immutable meshwork;
    bytes32 public immutable modelHash;
    bytes32 public immutable policy;

    /// @notice The accepted result's hash per answered request.
    mapping(uint256 requestId => bytes32) public resultHashOf;
    /// @notice How many answers arrived.
    uint256 public callbacks;

    /// @notice A request was made for this input.
    event Asked(uint256 indexed requestId);
    /// @notice An answer arrived: `result` holds its canonical bytes, or nothing when it was
    /// delivered by hash only.
    event Answer(uint256 indexed requestId, bytes32 resultHash, bytes result);

    /// @notice Only MeshworkRequests calls back.
    error NotMeshwork(address caller);

    constructor(MeshworkRequests meshwork_, bytes32 modelHash_, bytes32 policy_) {
        meshwork = meshwork_;
        modelHash = modelHash_;
        policy = policy_;
    }

    /// @notice Asks for the model's output on `input` (canonical CBOR of the input tensors);
    /// `msg.value` pays two agreeing volunteers, judged by the deployment's default coordinator,
    /// with no minimum stake.
    function ask(bytes calldata input) external payable returns (uint256 requestId) {
        requestId = meshwork.request{value: msg.value}(modelHash, input, policy, 2, 2, 1 hours, true, address(0), 0);
        emit Asked(requestId);
    }

    /// @notice MeshworkRequests' delivery of an answer.
    function onMeshworkResult(uint256 requestId, bytes32 resultHash, bytes calldata result) external {
        if (msg.sender != address(meshwork)) revert NotMeshwork(msg.sender);
        resultHashOf[requestId] = resultHash;
        ++callbacks;
        emit Answer(requestId, resultHash, result);
    }

    /// @notice Refunds of unanswered requests.
    receive() external payable {}
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMeshworkConsumer, MeshworkRequests} from "../MeshworkRequests.sol";

/// @title An example consumer of Meshwork computations
/// @notice Asks for one model's inference on inputs it is given and keeps every answer. A real
/// consumer would act on the result in onMeshworkResult (within MeshworkRequests.CONSUMER_GAS).
contract ExampleConsumer is IMeshworkConsumer {
    MeshworkRequests public immutable meshwork;
    bytes32 public immutable modelHash;
    bytes32 public immutable policy;

    mapping(uint256 requestId => bytes32) public resultHashOf;
    mapping(uint256 requestId => bytes) public resultOf;
    /// @notice How many answers arrived.
    uint256 public callbacks;

    event Asked(uint256 indexed requestId);
    event Answer(uint256 indexed requestId, bytes32 resultHash, bytes result);

    error NotMeshwork(address caller);

    constructor(MeshworkRequests meshwork_, bytes32 modelHash_, bytes32 policy_) {
        meshwork = meshwork_;
        modelHash = modelHash_;
        policy = policy_;
    }

    /// @notice Asks for the model's output on `input` (canonical CBOR of the input tensors);
    /// `msg.value` pays two agreeing volunteers.
    function ask(bytes calldata input) external payable returns (uint256 requestId) {
        requestId = meshwork.request{value: msg.value}(modelHash, input, policy, 2, 2, 1 hours, true);
        emit Asked(requestId);
    }

    function onMeshworkResult(uint256 requestId, bytes32 resultHash, bytes calldata result) external {
        if (msg.sender != address(meshwork)) revert NotMeshwork(msg.sender);
        resultHashOf[requestId] = resultHash;
        resultOf[requestId] = result;
        ++callbacks;
        emit Answer(requestId, resultHash, result);
    }

    /// @notice Refunds of unanswered requests.
    receive() external payable {}
}

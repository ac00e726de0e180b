// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IJobCallback, JobEscrow} from "./JobEscrow.sol";

/// @notice Implemented by a contract that asks MeshworkRequests for computations.
interface IMeshworkConsumer {
    /// @param result the accepted result's canonical bytes when they were asked for and are at
    /// most MAX_RESULT_BYTES; empty otherwise (the hash is always there).
    function onMeshworkResult(uint256 requestId, bytes32 resultHash, bytes calldata result) external;
}

/// @title On-chain requests for Meshwork computations
/// @notice A consumer contract pays for one inference: a model (by sha256), one input (its
/// canonical CBOR encoding, hashed with keccak256 as Meshwork commits inputs) and the agreement
/// terms. The request is itself a one-task JobEscrow job whose requester is this contract, so
/// volunteers are paid only for a quorum certificate, exactly as for any job. When the task
/// settles, JobEscrow tells this contract the accepted result hash (`onTaskSettled`); then
/// anyone (the Meshwork bridge, usually) delivers it, with the result bytes when asked for, and
/// the consumer's `onMeshworkResult` is called. Bytes that do not hash to the settled result are
/// refused, so the deliverer needs no trust. If no quorum settles before the deadline, `refund`
/// returns the payment to the consumer.
contract MeshworkRequests is IJobCallback, ReentrancyGuard {
    struct Request {
        address consumer;
        bool wantBytes; // deliver only with the result bytes (an empty delivery waits HASH_ONLY_AFTER)
        bool answered;
        bool delivered;
        bool refunded;
        uint64 answeredAt;
        bytes32 jobId;
        bytes32 resultHash;
    }

    JobEscrow public immutable escrow;
    /// @notice Largest input accepted (its bytes travel in the Requested event).
    uint256 public constant MAX_INPUT_BYTES = 8192;
    /// @notice Largest result delivered with its bytes.
    uint256 public constant MAX_RESULT_BYTES = 1024;
    /// @notice Gas given to the consumer's onMeshworkResult.
    uint256 public constant CONSUMER_GAS = 200_000;
    /// @notice After this, a request that wants bytes may be delivered without them (its result
    /// may be larger than MAX_RESULT_BYTES).
    uint64 public constant HASH_ONLY_AFTER = 1 hours;

    Request[] private _requests;
    /// @notice Request index + 1 per job (0: not a request's job).
    mapping(bytes32 jobId => uint256) public requestOfJob;

    event Requested(
        uint256 indexed requestId,
        address indexed consumer,
        bytes32 indexed jobId,
        bytes32 modelHash,
        bytes32 inputHash,
        bytes input,
        bool wantBytes
    );
    event Answered(uint256 indexed requestId, bytes32 resultHash);
    event Delivered(uint256 indexed requestId, bool withBytes, bool callbackOk);
    event RequestRefunded(uint256 indexed requestId, address indexed consumer, uint256 amount);

    error InputSize(uint256 length);
    error PaymentNotDivisible(uint256 value, uint8 replicas);
    error UnknownRequest(uint256 requestId);
    error NotEscrow(address caller);
    error NotAnswered(uint256 requestId);
    error AlreadyDelivered(uint256 requestId);
    error WrongResult(bytes32 expected, bytes32 got);
    error ResultTooLarge(uint256 length);
    error BytesWanted(uint256 requestId, uint64 hashOnlyAt);
    error NotEnoughGasForCallback(uint256 left);
    error TransferFailed(address to, uint256 amount);

    constructor(JobEscrow escrow_) {
        escrow = escrow_;
    }

    /// @notice Asks for one inference, paying `msg.value`: each of the `quorum` (up to
    /// `replicas`) agreeing volunteers earns msg.value / replicas.
    /// @param input the canonical CBOR encoding of the input tensors (lib/proofs/canonical.ts).
    /// @param policy agreement policy as right-padded UTF-8 ("exact", "argmax", "round:3", …).
    /// @param ttl seconds until the job's deadline.
    function request(
        bytes32 modelHash,
        bytes calldata input,
        bytes32 policy,
        uint8 replicas,
        uint8 quorum,
        uint64 ttl,
        bool wantBytes
    ) external payable returns (uint256 requestId) {
        if (input.length == 0 || input.length > MAX_INPUT_BYTES) revert InputSize(input.length);
        if (replicas == 0 || msg.value % replicas != 0) revert PaymentNotDivisible(msg.value, replicas);
        bytes32 inputHash = keccak256(input);
        bytes32 jobId = _openJob(modelHash, inputHash, policy, replicas, quorum, ttl);
        requestId = _requests.length;
        _requests.push(
            Request({
                consumer: msg.sender,
                wantBytes: wantBytes,
                answered: false,
                delivered: false,
                refunded: false,
                answeredAt: 0,
                jobId: jobId,
                resultHash: 0
            })
        );
        requestOfJob[jobId] = requestId + 1;
        emit Requested(requestId, msg.sender, jobId, modelHash, inputHash, input, wantBytes);
    }

    /// @dev The request's one-task job, paid with msg.value, this contract its requester.
    function _openJob(bytes32 modelHash, bytes32 inputHash, bytes32 policy, uint8 replicas, uint8 quorum, uint64 ttl)
        private
        returns (bytes32)
    {
        JobEscrow.JobParams memory p;
        p.modelHash = modelHash;
        // A one-leaf Merkle tree: its root is the leaf, keccak256(uint32 index 0 ‖ inputHash).
        p.inputsRoot = keccak256(abi.encodePacked(uint32(0), inputHash));
        p.policy = policy;
        p.taskCount = 1;
        p.replicas = replicas;
        p.quorum = quorum;
        p.deadline = uint64(block.timestamp) + ttl;
        // msg.value is bounded by the ether supply, far below 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.rewardPerResult = uint128(msg.value / replicas);
        return escrow.createJobWithCallback{value: msg.value}(p);
    }

    /// @notice JobEscrow's call when a request's task settles.
    function onTaskSettled(bytes32 jobId, uint32, bytes32 resultHash) external {
        if (msg.sender != address(escrow)) revert NotEscrow(msg.sender);
        uint256 n = requestOfJob[jobId];
        if (n == 0) return;
        Request storage r = _requests[n - 1];
        r.answered = true;
        r.answeredAt = uint64(block.timestamp);
        r.resultHash = resultHash;
        emit Answered(n - 1, resultHash);
    }

    /// @notice Calls the consumer back with the settled result: `result` must hash to it, or be
    /// empty (allowed at once when the consumer did not ask for bytes, else after HASH_ONLY_AFTER).
    function deliver(uint256 requestId, bytes calldata result) external nonReentrant {
        Request storage r = _get(requestId);
        if (!r.answered) revert NotAnswered(requestId);
        if (r.delivered) revert AlreadyDelivered(requestId);
        if (result.length > 0) {
            if (result.length > MAX_RESULT_BYTES) revert ResultTooLarge(result.length);
            bytes32 got = keccak256(result);
            if (got != r.resultHash) revert WrongResult(r.resultHash, got);
        } else if (r.wantBytes && block.timestamp < r.answeredAt + HASH_ONLY_AFTER) {
            revert BytesWanted(requestId, r.answeredAt + HASH_ONLY_AFTER);
        }
        r.delivered = true;
        // The caller must leave the consumer its gas, or it could make the callback fail on purpose.
        if (gasleft() < (CONSUMER_GAS * 64) / 63 + 5_000) revert NotEnoughGasForCallback(gasleft());
        bool ok;
        try IMeshworkConsumer(r.consumer).onMeshworkResult{gas: CONSUMER_GAS}(requestId, r.resultHash, result) {
            ok = true;
        } catch {}
        emit Delivered(requestId, result.length > 0, ok);
    }

    /// @notice After the deadline of a request that was not answered: the payment goes back to
    /// its consumer. Anyone may call.
    function refund(uint256 requestId) external nonReentrant {
        Request storage r = _get(requestId);
        r.refunded = true;
        uint256 amount = escrow.refund(r.jobId);
        emit RequestRefunded(requestId, r.consumer, amount);
        (bool ok,) = r.consumer.call{value: amount}("");
        if (!ok) revert TransferFailed(r.consumer, amount);
    }

    /// @notice JobEscrow's refunds arrive here on their way to the consumer.
    receive() external payable {
        if (msg.sender != address(escrow)) revert NotEscrow(msg.sender);
    }

    function getRequest(uint256 requestId) external view returns (Request memory) {
        return _get(requestId);
    }

    function requestCount() external view returns (uint256) {
        return _requests.length;
    }

    function _get(uint256 requestId) private view returns (Request storage) {
        if (requestId >= _requests.length) revert UnknownRequest(requestId);
        return _requests[requestId];
    }
}

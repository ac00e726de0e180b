// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobCallback} from "./IJobCallback.sol";
import {JobEscrow} from "./JobEscrow.sol";

/// @notice Implemented by a contract that asks MeshworkRequests for computations.
interface IMeshworkConsumer {
    /// @param result the accepted result's canonical bytes when they were asked for and are at
    /// most MAX_RESULT_BYTES; empty otherwise (the hash is always there).
    function onMeshworkResult(uint256 requestId, bytes32 resultHash, bytes calldata result) external;
}

/// @title On-chain requests for Meshwork computations
/// @notice A consumer contract pays for one inference: a model (by sha256), one input (its
/// canonical CBOR encoding, hashed with keccak256 as Meshwork commits inputs), the agreement
/// terms and the coordinator it trusts to judge them (the deployment's default, or its own).
/// The request is itself a one-task JobEscrow job whose requester is this contract, so
/// volunteers are paid only through that coordinator's claims, exactly as for any job. When the
/// coordinator records the task's accepted result, JobEscrow tells this contract its hash
/// (`onTaskSettled`); nobody else can answer. Then anyone (the Meshwork bridge, usually) delivers
/// it, with the result bytes when asked for, and the consumer's `onMeshworkResult` is called.
/// Bytes that do not hash to the recorded result are refused, so the deliverer needs no trust.
/// After the job's claim window, `refund` returns what the volunteers were not paid to the
/// consumer; a consumer that does not take ether has it credited instead (`refundsOf`), and
/// sends it where it names (`withdrawRefund`).
/// @dev Holds, between calls, exactly the refunds credited to consumers (the sum of
/// `refundsOf`): a refund passes through on its way to the consumer, or stays credited to it,
/// and any other payment is refused (so none can be stranded here).
contract MeshworkRequests is IJobCallback, ReentrancyGuardTransient {
    struct Request {
        address consumer;
        bool wantBytes; // deliver only with the result bytes (an empty delivery waits HASH_ONLY_AFTER)
        bool answered;
        bool delivered;
        bool refunded;
        uint64 answeredAt;
        address coordinator; // the only key that can answer (it records the job's result)
        bytes32 jobId;
        bytes32 resultHash;
    }

    JobEscrow public immutable escrow;
    /// @notice The coordinator of requests that name none (address(0)).
    address public immutable defaultCoordinator;
    /// @notice The block this contract was deployed in: a reader of its events starts there.
    uint256 public immutable deployedBlock;
    /// @notice Largest input accepted (its bytes travel in the Requested event).
    uint256 public constant MAX_INPUT_BYTES = 8192;
    /// @notice Largest result delivered with its bytes.
    uint256 public constant MAX_RESULT_BYTES = 1024;
    /// @notice Gas given to the consumer's onMeshworkResult.
    uint256 public constant CONSUMER_GAS = 200_000;
    /// @notice After this, a request that wants bytes may be delivered without them (its result
    /// may be larger than MAX_RESULT_BYTES).
    uint64 public constant HASH_ONLY_AFTER = 1 hours;
    /// @notice Longest `ttl` a request may ask for. The payment is locked until the deadline
    /// plus JobEscrow.CLAIM_WINDOW; the bound also refuses a ttl given in milliseconds (an hour's
    /// is 41 days) and keeps `block.timestamp + ttl` far from overflowing 64 bits.
    uint64 public constant MAX_TTL = 30 days;
    /// @notice Gas given to the consumer to take its refund; one that fails with it is credited.
    uint256 public constant REFUND_GAS = 100_000;

    Request[] private _requests;
    /// @notice Request index + 1 per job (0: not a request's job).
    mapping(bytes32 jobId => uint256) public requestOfJob;
    /// @notice Refunds credited to consumers that did not take them; each withdraws its own.
    mapping(address consumer => uint256) public refundsOf;
    /// @dev Set only while `refund` waits for JobEscrow's ether.
    bool private transient _refunding;

    /// @notice A consumer asked for an inference; only `coordinator` can answer it, and it pays
    /// only volunteers with at least `minStake` active stake.
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
    /// @notice The request's coordinator recorded its accepted result.
    event Answered(uint256 indexed requestId, bytes32 resultHash);
    /// @notice The consumer was called back (`callbackOk`: without reverting).
    event Delivered(uint256 indexed requestId, bool withBytes, bool callbackOk);
    /// @notice What the volunteers were not paid went back to the consumer (sent, or credited
    /// with RefundCredited when the consumer would not take it).
    event RequestRefunded(uint256 indexed requestId, address indexed consumer, uint256 amount);
    /// @notice The consumer did not take its refund within REFUND_GAS: `amount` was credited to
    /// it (`refundsOf`) instead, to withdraw with `withdrawRefund`.
    event RefundCredited(uint256 indexed requestId, address indexed consumer, uint256 amount);
    /// @notice A consumer's credited refunds were sent to `to`.
    event RefundWithdrawn(address indexed consumer, address indexed to, uint256 amount);

    /// @notice The input must be 1 to MAX_INPUT_BYTES bytes.
    error InputSize(uint256 length);
    /// @notice The payment must split evenly into `replicas` rewards.
    error PaymentNotDivisible(uint256 value, uint8 replicas);
    /// @notice No request has this id.
    error UnknownRequest(uint256 requestId);
    /// @notice Only JobEscrow may call this.
    error NotEscrow(address caller);
    /// @notice Ether arrives here only as a refund from JobEscrow, during `refund`.
    error UnexpectedPayment(address from, uint256 amount);
    /// @notice The request's result has not been recorded yet.
    error NotAnswered(uint256 requestId);
    /// @notice The request was delivered already.
    error AlreadyDelivered(uint256 requestId);
    /// @notice The bytes do not hash to the recorded result.
    error WrongResult(bytes32 expected, bytes32 got);
    /// @notice A result delivered with its bytes must be at most MAX_RESULT_BYTES.
    error ResultTooLarge(uint256 length);
    /// @notice The consumer asked for the bytes: an empty delivery waits until `hashOnlyAt`.
    error BytesWanted(uint256 requestId, uint64 hashOnlyAt);
    /// @notice The caller left too little gas for the consumer's CONSUMER_GAS.
    error NotEnoughGasForCallback(uint256 left);
    /// @notice Sending ether failed; nothing changed.
    error TransferFailed(address to, uint256 amount);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice A request's ttl must be at most MAX_TTL seconds.
    error TtlTooLong(uint64 ttl, uint64 maxTtl);
    /// @notice The caller left too little gas for a refund's REFUND_GAS: the consumer must be
    /// given its full allowance before a failure to take the ether can credit it instead.
    error NotEnoughGasForRefund(uint256 left);
    /// @notice No refund is held for this consumer.
    error NoRefundHeld(address consumer);

    constructor(JobEscrow escrow_, address defaultCoordinator_) {
        if (defaultCoordinator_ == address(0)) revert ZeroAddress();
        escrow = escrow_;
        defaultCoordinator = defaultCoordinator_;
        deployedBlock = block.number;
    }

    /// @notice Asks for one inference, paying `msg.value`: each volunteer whose result the
    /// coordinator accepts (up to `replicas`) earns msg.value / replicas.
    /// @param input the canonical CBOR encoding of the input tensors (lib/proofs/canonical.ts).
    /// @param policy agreement policy as right-padded UTF-8 ("exact", "argmax", "round:3", …).
    /// @param ttl seconds until the job's deadline, at most MAX_TTL (TtlTooLong).
    /// @param coordinator the key that judges the results and answers; address(0): the default.
    /// @param minStake active stake a volunteer needs to be paid (0: none).
    function request(
        bytes32 modelHash,
        bytes calldata input,
        bytes32 policy,
        uint8 replicas,
        uint8 quorum,
        uint64 ttl,
        bool wantBytes,
        address coordinator,
        uint128 minStake
    ) external payable returns (uint256 requestId) {
        if (input.length == 0 || input.length > MAX_INPUT_BYTES) revert InputSize(input.length);
        if (replicas == 0 || msg.value % replicas != 0) revert PaymentNotDivisible(msg.value, replicas);
        if (ttl > MAX_TTL) revert TtlTooLong(ttl, MAX_TTL);
        JobEscrow.JobParams memory p;
        p.modelHash = modelHash;
        // A one-leaf Merkle tree: its root is the leaf, keccak256(uint32 index 0 ‖ inputHash).
        p.inputsRoot = keccak256(abi.encodePacked(uint32(0), keccak256(input)));
        p.policy = policy;
        p.taskCount = 1;
        p.replicas = replicas;
        p.quorum = quorum;
        // Checked, and with ttl <= MAX_TTL it cannot overflow while block.timestamp fits 63 bits.
        p.deadline = uint64(block.timestamp) + ttl;
        // A value above 2^128 × replicas truncates here, and then fails JobEscrow's exact-escrow
        // check (WrongEscrow): it cannot open a job worth less than was paid.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.rewardPerResult = uint128(msg.value / replicas);
        p.coordinator = coordinator == address(0) ? defaultCoordinator : coordinator;
        p.minStake = minStake;
        return _open(p, input, wantBytes);
    }

    /// @dev Opens the request's one-task job, paid with msg.value, this contract its requester.
    function _open(JobEscrow.JobParams memory p, bytes calldata input, bool wantBytes)
        private
        returns (uint256 requestId)
    {
        bytes32 jobId = escrow.createJobWithCallback{value: msg.value}(p);
        requestId = _requests.length;
        Request storage r = _requests.push();
        r.consumer = msg.sender;
        r.wantBytes = wantBytes;
        r.coordinator = p.coordinator;
        r.jobId = jobId;
        requestOfJob[jobId] = requestId + 1;
        _announce(requestId, jobId, p, input, wantBytes);
    }

    /// @dev Apart from _open, whose locals leave too little stack for the event's arguments.
    function _announce(
        uint256 requestId,
        bytes32 jobId,
        JobEscrow.JobParams memory p,
        bytes calldata input,
        bool wantBytes
    ) private {
        bytes32 inputHash = keccak256(input);
        emit Requested(
            requestId, msg.sender, jobId, p.modelHash, inputHash, input, wantBytes, p.coordinator, p.minStake
        );
    }

    /// @notice JobEscrow's call when a request's result is recorded (by its coordinator only).
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

    /// @notice Calls the consumer back with the recorded result: `result` must hash to it, or be
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

    /// @notice After the job's claim window (JobEscrow.CLAIM_WINDOW past its deadline): what the
    /// volunteers were not paid goes back to the consumer. Anyone may call; only this contract
    /// can refund a request's job, so the ether always comes through here. The consumer is sent
    /// it with REFUND_GAS (the caller must leave that much: NotEnoughGasForRefund); if it does
    /// not take it (a contract without `receive`), it is credited to `refundsOf(consumer)`
    /// instead (RefundCredited): the refund never fails for the consumer's sake.
    /// @return amount Wei refunded, sent or credited.
    function refund(uint256 requestId) external nonReentrant returns (uint256 amount) {
        Request storage r = _get(requestId);
        r.refunded = true;
        _refunding = true;
        // JobEscrow sends it all here: this contract's receive takes it well within
        // JobEscrow.REFUND_GAS, so the escrow never credits it instead.
        amount = escrow.refund(r.jobId);
        _refunding = false;
        address consumer = r.consumer;
        emit RequestRefunded(requestId, consumer, amount);
        if (amount == 0) return 0;
        // Anyone may call, so the consumer must get all of REFUND_GAS: a send that fails is then
        // the consumer's doing, never a caller's that sent too little gas (which would leave the
        // ether credited to a consumer that takes ether but may have no way to call
        // withdrawRefund). The 63/64 rule alone nearly ensures it; this makes it explicit.
        if (gasleft() < (REFUND_GAS * 64) / 63 + 15_000) revert NotEnoughGasForRefund(gasleft());
        (bool ok,) = consumer.call{value: amount, gas: REFUND_GAS}("");
        if (!ok) {
            refundsOf[consumer] += amount;
            emit RefundCredited(requestId, consumer, amount);
        }
    }

    /// @notice Sends the caller's credited refunds (`refundsOf(msg.sender)`) to `to`, an address
    /// the consumer names because it could not take them itself.
    /// @return amount Wei sent.
    function withdrawRefund(address payable to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = refundsOf[msg.sender];
        if (amount == 0) revert NoRefundHeld(msg.sender);
        refundsOf[msg.sender] = 0;
        emit RefundWithdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    /// @notice JobEscrow's refunds arrive here on their way to the consumer; nothing else does.
    receive() external payable {
        if (msg.sender != address(escrow) || !_refunding) revert UnexpectedPayment(msg.sender, msg.value);
    }

    /// @notice The request; reverts with UnknownRequest for an id never given.
    function getRequest(uint256 requestId) external view returns (Request memory) {
        return _get(requestId);
    }

    /// @notice Requests made so far (ids are 0 to requestCount - 1).
    function requestCount() external view returns (uint256) {
        return _requests.length;
    }

    function _get(uint256 requestId) private view returns (Request storage) {
        if (requestId >= _requests.length) revert UnknownRequest(requestId);
        return _requests[requestId];
    }
}

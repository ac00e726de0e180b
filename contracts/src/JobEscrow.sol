// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobCallback} from "./IJobCallback.sol";

/// @title Meshwork job escrow
/// @notice A requester escrows `taskCount × (replicas × rewardPerResult + feePerTask)` for a job
/// and names its coordinator: the one key whose EIP-712 signatures move the job's escrow or
/// record its results. Worker signatures alone, from any number of keys, move nothing.
///
/// Pay: the coordinator signs cumulative claims, `Claim(jobId, worker, results)`: "I accepted
/// `results` results of `worker` in this job in total". Anyone may redeem a claim (`redeem`); the
/// worker's account is credited `rewardPerResult` for each result beyond what earlier claims paid,
/// and the worker (or whoever pays the gas) withdraws it (`withdraw`). A claim is redeemable until
/// `deadline + CLAIM_WINDOW`, so a worker holding one is paid even if the requester never acts.
/// A redemption never pays part of a claim: one that does not fit the escrow left reverts and
/// stays redeemable. A claim already redeemed is skipped, so a batch still pays the others when
/// someone redeemed one of its claims first.
///
/// Results: the coordinator signs `Record(jobId, keccak256(tasks), recorder)` over packed records
/// `taskIndex (4 bytes) ‖ resultHash (32)`; anyone may send them (`record`), and `recorder` is
/// credited `feePerTask` per newly recorded task (the sender, when the coordinator named the zero
/// address), so a relayer is reimbursed from the job and a copy of its transaction earns its
/// copier nothing. A contract that opened the job with `createJobWithCallback` has its
/// `onTaskSettled` called per recorded task (bounded gas; a failing callback never blocks
/// recording). MeshworkRequests answers on-chain requests this way.
///
/// After `deadline + CLAIM_WINDOW` the requester gets back what is left (`refund`); a requester
/// that cannot take ether then has it credited instead, to withdraw where it names
/// (`withdrawRefund`), so no refund is stranded.
///
/// Workers may stake; stake leaves only UNSTAKE_DELAY after it is asked back, and anyone holding
/// two `Result(jobId, taskIndex, resultHash)` signatures by one worker over different results for
/// the same task can slash all of it: half to the reporter, half burned (locked here forever), so
/// self-reporting loses half. A job may require a minimum active stake of the workers it pays.
/// A worker may direct its pay elsewhere (`setPayouts`, a `Payout(worker, payout, nonce)` signed
/// by the worker's key): a browser tab's key holds no ether and lives in storage its visitor may
/// clear; an embedding site points the tab's pay at its treasury this way.
/// @dev The EIP-712 domain is ("Meshwork", "1", chainid, this), so no signature can be replayed
/// on another chain or against another deployment; claims and records name their job, so none
/// can be replayed on another job. OpenZeppelin's ECDSA rejects malleable (high-s) and malformed
/// signatures.
contract JobEscrow is EIP712, ReentrancyGuardTransient {
    // ----------------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------------

    /// @notice A job needs at least one task.
    error NoTasks();
    /// @notice The quorum must be between 1 and the replicas.
    error QuorumOutOfRange(uint8 quorum, uint8 replicas);
    /// @notice A job must pay something per result.
    error ZeroReward();
    /// @notice The deadline must be later than this block.
    error DeadlineNotInFuture(uint64 deadline, uint256 nowTs);
    /// @notice The ether sent is not exactly taskCount × (replicas × rewardPerResult + feePerTask).
    error WrongEscrow(uint256 expected, uint256 sent);
    /// @notice No job has this id.
    error UnknownJob(bytes32 jobId);
    /// @notice The job was refunded: nothing more can be redeemed or recorded.
    error AlreadyRefunded(bytes32 jobId);
    /// @notice The job's claims and records are no longer accepted (after `closesAt`).
    error ClaimWindowClosed(bytes32 jobId, uint256 closesAt);
    /// @notice The job cannot be refunded before `closesAt`: its claims are still redeemable.
    error ClaimWindowOpen(bytes32 jobId, uint256 closesAt);
    /// @notice A claim or record was not signed by the job's coordinator.
    error NotCoordinator(bytes32 jobId, address signer, address coordinator);
    /// @notice A claim names more results than the job pays for (taskCount × replicas).
    error ClaimTooLarge(bytes32 jobId, uint32 results, uint256 max);
    /// @notice A claim names fewer results than the worker was already paid for in this job: it
    /// is older than one redeemed. (One naming exactly as many is skipped, not refused.)
    error ClaimNotNewer(bytes32 jobId, address worker, uint32 results, uint32 redeemed);
    /// @notice The job pays only workers whose active stake is at least `minStake`.
    error StakeTooLow(address worker, uint128 active, uint128 minStake);
    /// @notice The claim is worth more than the job's escrow left; it stays redeemable.
    error InsufficientEscrow(bytes32 jobId, uint256 owed, uint256 remaining);
    /// @notice Records must be 36 bytes each (taskIndex ‖ resultHash), and at least one.
    error MalformedTasks(bytes32 jobId, uint256 length);
    /// @notice The job has no task with this index.
    error TaskOutOfRange(bytes32 jobId, uint32 taskIndex, uint32 taskCount);
    /// @notice Only its requester may refund a callback job (its ether must reach the contract
    /// that knows whom it belongs to).
    error NotRequester(bytes32 jobId, address caller, address requester);
    /// @notice Nothing is credited to this worker.
    error NothingToWithdraw(address worker);
    /// @notice No refund is held for this requester.
    error NoRefundHeld(address requester);
    /// @notice The caller left too little gas for a refund's REFUND_GAS: the requester must be
    /// given its full allowance before a failure to take the ether can credit it instead.
    error NotEnoughGasForRefund(uint256 left);
    /// @notice Sending ether failed; nothing changed.
    error TransferFailed(address to, uint256 amount);
    /// @notice A stake must be more than zero.
    error ZeroStake();
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice Unstaking asks for zero or more than the active stake.
    error InsufficientStake(uint256 requested, uint256 active);
    /// @notice The unstaking part can be withdrawn from `unlockAt` on.
    error StakeLocked(uint64 unlockAt);
    /// @notice The worker has no stake unstaking.
    error NothingToUnstake(address worker);
    /// @notice Equivocation evidence needs two different results.
    error SameResult(bytes32 resultHash);
    /// @notice The two signatures of equivocation evidence are by different keys.
    error NotEquivocation(address signerA, address signerB);
    /// @notice The equivocating worker has no stake to slash.
    error NothingToSlash(address worker);
    /// @notice Only a contract can ask for callbacks.
    error CallbackNeedsContract(address requester);
    /// @notice The caller left too little gas for the callback's CALLBACK_GAS.
    error NotEnoughGasForCallback(uint256 left);
    /// @notice A payout authorisation was not signed by its worker.
    error BadPayoutSignature(address worker, address signer);
    /// @notice `created` takes at most 256 ids.
    error TooManyIds(uint256 count);

    // ----------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------

    /// @notice A job was opened and its escrow received.
    event JobCreated(
        bytes32 indexed jobId,
        address indexed requester,
        address indexed coordinator,
        bytes32 modelHash,
        bytes32 inputsRoot,
        bytes32 policy,
        uint32 taskCount,
        uint8 replicas,
        uint8 quorum,
        uint128 rewardPerResult,
        uint128 feePerTask,
        uint128 minStake,
        uint64 deadline
    );
    /// @notice A claim was redeemed: `worker` now has `results` results paid in `jobId`, `amount`
    /// of them by this redemption.
    event ClaimRedeemed(bytes32 indexed jobId, address indexed worker, uint32 results, uint256 amount);
    /// @notice Results were recorded: `tasks` holds the newly recorded records, each `taskIndex`
    /// (4 bytes, big-endian) ‖ `resultHash` (32), in the order they were sent.
    event ResultsRecorded(bytes32 indexed jobId, bytes tasks);
    /// @notice A callback job's `onTaskSettled` reverted or ran out of gas; recording went on.
    event CallbackFailed(bytes32 indexed jobId, uint32 indexed taskIndex);
    /// @notice A worker's credited balance was sent to `to`.
    event Withdrawn(address indexed worker, address indexed to, uint256 amount);
    /// @notice A worker's pay goes to `payout` from now on.
    event PayoutSet(address indexed worker, address indexed payout, uint64 nonce);
    /// @notice What was left of a job's escrow went back to its requester (sent, or credited
    /// with RefundCredited when the requester would not take it).
    event Refunded(bytes32 indexed jobId, address indexed requester, uint256 amount);
    /// @notice The requester did not take its refund within REFUND_GAS: `amount` was credited to
    /// it (`refundsOf`) instead, to withdraw with `withdrawRefund`.
    event RefundCredited(bytes32 indexed jobId, address indexed requester, uint256 amount);
    /// @notice A requester's credited refunds were sent to `to`.
    event RefundWithdrawn(address indexed requester, address indexed to, uint256 amount);
    /// @notice `from` added `amount` to `worker`'s active stake, now `active`.
    event Staked(address indexed worker, address indexed from, uint256 amount, uint256 active);
    /// @notice A worker asked `amount` of its stake back; it can be withdrawn from `unlockAt`.
    event UnstakeRequested(address indexed worker, uint256 amount, uint64 unlockAt);
    /// @notice A worker's unstaked ether was sent to it.
    event StakeWithdrawn(address indexed worker, uint256 amount);
    /// @notice An equivocating worker lost `amount` of stake; `reward` went to `reporter`.
    event Slashed(
        address indexed worker,
        bytes32 indexed jobId,
        uint32 taskIndex,
        uint256 amount,
        address indexed reporter,
        uint256 reward
    );

    // ----------------------------------------------------------------------------------------
    // Storage
    // ----------------------------------------------------------------------------------------

    /// @notice EIP-712 type hash of a worker's signed result (equivocation evidence, `slash`).
    bytes32 public constant RESULT_TYPEHASH = keccak256("Result(bytes32 jobId,uint32 taskIndex,bytes32 resultHash)");
    /// @notice EIP-712 type hash of a worker's payout authorisation.
    bytes32 public constant PAYOUT_TYPEHASH = keccak256("Payout(address worker,address payout,uint64 nonce)");
    /// @notice EIP-712 type hash of a coordinator's cumulative claim for a worker.
    bytes32 public constant CLAIM_TYPEHASH = keccak256("Claim(bytes32 jobId,address worker,uint32 results)");
    /// @notice EIP-712 type hash of a coordinator's record of results; `tasksHash` is the
    /// keccak256 of the packed records, `recorder` the account its fees are credited to
    /// (address(0): whoever sends it).
    bytes32 public constant RECORD_TYPEHASH = keccak256("Record(bytes32 jobId,bytes32 tasksHash,address recorder)");

    /// @notice Gas given to a requester's `onTaskSettled`.
    uint256 public constant CALLBACK_GAS = 100_000;
    /// @notice Gas given to a requester to take its refund; one that fails with it is credited.
    uint256 public constant REFUND_GAS = 100_000;
    /// @notice How long stake stays slashable after it is asked back.
    uint64 public constant UNSTAKE_DELAY = 3 days;
    /// @notice How long after its deadline a job's claims stay redeemable and results recordable;
    /// the requester can refund only after it.
    uint64 public constant CLAIM_WINDOW = 1 days;

    /// @notice What a requester chooses for a job.
    struct JobParams {
        bytes32 modelHash; // sha256 of the ONNX model file
        bytes32 inputsRoot; // Merkle root over the task input leaves
        bytes32 policy; // agreement policy as UTF-8 text, right-padded ("exact", "round:4", ...)
        uint32 taskCount;
        uint8 replicas; // results paid per task, at most
        uint8 quorum; // agreeing results the coordinator should require, 1 <= quorum <= replicas
        uint64 deadline; // unix seconds; claims and records until deadline + CLAIM_WINDOW
        uint128 rewardPerResult; // wei per accepted result
        address coordinator; // the only key whose signatures move escrow or record results
        uint128 feePerTask; // wei to whoever records a task's result (may be 0)
        uint128 minStake; // active stake a worker needs to redeem a claim (may be 0)
    }

    /// @notice A job as `getJob` returns it. `feesLeft` is not stored: it is
    /// (taskCount - recordedCount) × feePerTask until the job is refunded, then 0.
    struct Job {
        address requester;
        address coordinator;
        uint32 taskCount;
        uint32 recordedCount;
        uint8 replicas;
        uint8 quorum;
        bool refunded;
        bool callback;
        uint128 rewardPerResult;
        uint128 remaining; // reward escrow not yet redeemed or refunded (wei)
        uint128 feePerTask;
        uint128 feesLeft; // fee escrow not yet paid to recorders or refunded (wei)
        uint128 minStake;
        uint64 deadline;
        bytes32 modelHash;
        bytes32 inputsRoot;
        bytes32 policy;
        uint64 createdBlock; // the block of createJob: its events are read from here on
    }

    /// @dev A job as stored: seven slots, the fourth left empty (never written) when feePerTask
    /// and minStake are both 0. `redeem` reads slots 0-3, `record` 0, 1 and 3.
    struct StoredJob {
        // slot 0
        address requester;
        uint32 taskCount;
        uint32 recordedCount;
        uint8 replicas;
        uint8 quorum;
        bool refunded;
        bool callback; // call requester.onTaskSettled for each recorded task
        // slot 1
        address coordinator;
        uint40 deadline; // unix seconds (createJob's uint64 fits up to the year 36,812)
        uint56 createdBlock; // block.number at createJob: slot 1 is written anyway, so it is free
        // slot 2
        uint128 rewardPerResult;
        uint128 remaining;
        // slot 3
        uint128 feePerTask;
        uint128 minStake;
        // slots 4-6
        bytes32 modelHash;
        bytes32 inputsRoot;
        bytes32 policy;
    }

    /// @notice A coordinator's claim, as `redeem` takes it.
    struct Claim {
        bytes32 jobId;
        address worker;
        uint32 results; // accepted results of `worker` in `jobId`, in total
        bytes signature; // 65 bytes (r, s, v) by the job's coordinator over Claim(jobId, worker, results)
    }

    /// @notice A worker's pay and record, one storage slot.
    struct Account {
        uint128 balance; // credited, not yet withdrawn (wei)
        uint64 settledResults; // results paid to it through redeemed claims
        uint32 slashes; // times its stake was slashed
        uint32 id; // 0 until its first redeemed claim, then its place in the order of first redemptions
    }

    /// @notice A worker's stake. Both parts stay slashable until withdrawn.
    struct Stake {
        uint128 active;
        uint128 unstaking;
        uint64 unlockAt; // unstaking may be withdrawn from then on
    }

    /// @notice A worker's signed choice of where its pay goes.
    struct PayoutAuth {
        address worker;
        address payout;
        uint64 nonce; // must exceed the worker's last one; a newer authorisation replaces an older
        bytes signature; // by `worker`, over Payout(worker, payout, nonce)
    }

    /// @notice Where a worker's pay goes, one storage slot.
    struct PayoutTo {
        address payout;
        uint64 nonce;
    }

    mapping(bytes32 jobId => StoredJob) private _jobs;
    /// @dev One bit per task: recorded or not, 256 tasks per word.
    mapping(bytes32 jobId => mapping(uint256 word => uint256 bits)) private _recorded;
    /// @dev Results paid per (job, worker): eight 32-bit counts per word, the worker with account
    /// id `i` in lane `i % 8` of word `i / 8`. Ids are given in order of first redemption, so the
    /// workers a coordinator pays regularly tend to share words, and a job's redemptions write
    /// one new slot per eight of them rather than one each.
    mapping(bytes32 jobId => mapping(uint256 word => uint256 lanes)) private _redeemed;
    mapping(address worker => Account) private _accounts;
    mapping(address worker => Stake) private _stakes;
    mapping(address worker => PayoutTo) private _payouts;
    /// @dev The last account id given (ids start at 1; 0 means none).
    uint256 private _lastAccountId;
    /// @notice Slashed ether locked here forever.
    uint256 public burned;
    /// @notice Refunds credited to requesters that did not take them; each withdraws its own.
    mapping(address requester => uint256) public refundsOf;
    /// @notice Jobs created per requester; part of the next job id.
    mapping(address requester => uint256) public jobNonce;

    constructor() EIP712("Meshwork", "1") {}

    // ----------------------------------------------------------------------------------------
    // Create
    // ----------------------------------------------------------------------------------------

    /// @notice Opens a job and escrows exactly taskCount × (replicas × rewardPerResult + feePerTask).
    /// @return jobId keccak256(chainid, this contract, requester, the requester's job nonce).
    function createJob(JobParams calldata p) external payable returns (bytes32 jobId) {
        return _createJob(p, false);
    }

    /// @notice Like createJob, for a contract requester that wants `onTaskSettled` called as each
    /// task's result is recorded. Only that requester can refund such a job.
    function createJobWithCallback(JobParams calldata p) external payable returns (bytes32 jobId) {
        if (msg.sender.code.length == 0) revert CallbackNeedsContract(msg.sender);
        return _createJob(p, true);
    }

    function _createJob(JobParams calldata p, bool callback) private returns (bytes32 jobId) {
        if (p.taskCount == 0) revert NoTasks();
        if (p.quorum == 0 || p.quorum > p.replicas) revert QuorumOutOfRange(p.quorum, p.replicas);
        if (p.rewardPerResult == 0) revert ZeroReward();
        if (p.deadline <= block.timestamp) revert DeadlineNotInFuture(p.deadline, block.timestamp);
        if (p.coordinator == address(0)) revert ZeroAddress();
        // Cannot overflow: taskCount < 2^32, replicas < 2^8, the amounts < 2^128, so each product
        // is below 2^168 and their sum below 2^169.
        uint256 rewards = uint256(p.taskCount) * p.replicas * p.rewardPerResult;
        uint256 fees = uint256(p.taskCount) * p.feePerTask;
        if (msg.value != rewards + fees) revert WrongEscrow(rewards + fees, msg.value);
        // Both must fit 128 bits: `remaining` holds the rewards, and the fees (all of them at most)
        // are credited to a 128-bit balance and reported as a 128-bit feesLeft.
        SafeCast.toUint128(fees);

        jobId = keccak256(abi.encode(block.chainid, address(this), msg.sender, jobNonce[msg.sender]++));
        StoredJob storage j = _jobs[jobId];
        j.requester = msg.sender;
        j.taskCount = p.taskCount;
        j.replicas = p.replicas;
        j.quorum = p.quorum;
        j.callback = callback;
        j.coordinator = p.coordinator;
        j.deadline = SafeCast.toUint40(p.deadline);
        j.createdBlock = SafeCast.toUint56(block.number);
        j.rewardPerResult = p.rewardPerResult;
        j.remaining = SafeCast.toUint128(rewards);
        if (p.feePerTask != 0 || p.minStake != 0) {
            j.feePerTask = p.feePerTask;
            j.minStake = p.minStake;
        }
        j.modelHash = p.modelHash;
        j.inputsRoot = p.inputsRoot;
        j.policy = p.policy;
        _announce(jobId, p);
    }

    /// @dev Apart from _createJob, whose locals leave too little stack for thirteen arguments.
    function _announce(bytes32 jobId, JobParams calldata p) private {
        emit JobCreated(
            jobId,
            msg.sender,
            p.coordinator,
            p.modelHash,
            p.inputsRoot,
            p.policy,
            p.taskCount,
            p.replicas,
            p.quorum,
            p.rewardPerResult,
            p.feePerTask,
            p.minStake,
            p.deadline
        );
    }

    // ----------------------------------------------------------------------------------------
    // Claims
    // ----------------------------------------------------------------------------------------

    /// @notice Redeems coordinators' claims; anyone may send them (a worker's tab key holds no
    /// ether). Each claim credits its worker `rewardPerResult` for every result beyond what the
    /// worker was already paid in that job, and emits ClaimRedeemed. A claim for exactly the
    /// results already paid (the same claim redeemed first by someone else, a race) is skipped
    /// once its job and signature are checked: it pays nothing and emits nothing, so it cannot
    /// make a batch fail. Any other claim that cannot be paid in full reverts the whole call
    /// (an older claim, with fewer results than already paid, with ClaimNotNewer), and stays
    /// redeemable.
    /// @return paid Wei credited to the workers in total (0 when every claim was skipped).
    function redeem(Claim[] calldata claims) external returns (uint256 paid) {
        uint256 n = claims.length;
        for (uint256 i = 0; i < n;) {
            paid += _redeem(claims[i]);
            // Cannot overflow: i < n, a calldata array length.
            unchecked {
                ++i;
            }
        }
    }

    /// @dev One claim: what it credits, 0 when it is skipped (its results were all paid).
    function _redeem(Claim calldata c) private returns (uint256 owed) {
        StoredJob storage job = _claimedJob(c);
        address worker = c.worker;
        uint32 results = c.results;
        Account memory a = _accounts[worker];
        if (a.id == 0) {
            // Never paid, so nothing redeemed: a claim of 0 results duplicates that, and gets no id.
            if (results == 0) return 0;
            // Cannot reach 2^32 in practice (each id costs a first redemption, over 20,000 gas);
            // checked anyway.
            a.id = SafeCast.toUint32(++_lastAccountId);
        }
        uint32 redeemed = _advanceRedeemed(c.jobId, a.id, worker, results);
        // Skipped before the stake check: it pays nothing, and a worker that unstaked since must
        // not make a batch carrying its already-paid claim fail.
        if (redeemed == results) return 0;
        // Cannot underflow: _advanceRedeemed reverts unless results >= redeemed, and they differ.
        uint32 fresh;
        unchecked {
            fresh = results - redeemed;
        }
        uint128 minStake = job.minStake;
        if (minStake != 0) {
            uint128 active = _stakes[worker].active;
            if (active < minStake) revert StakeTooLow(worker, active, minStake);
        }
        // Cannot overflow: fresh < 2^32 and rewardPerResult < 2^128.
        owed = uint256(fresh) * job.rewardPerResult;
        uint128 remaining = job.remaining;
        if (owed > remaining) revert InsufficientEscrow(c.jobId, owed, remaining);
        // owed <= remaining < 2^128, so the casts cannot truncate. Cannot underflow: owed <=
        // remaining was checked just above. The balance's sum is checked.
        unchecked {
            // forge-lint: disable-next-line(unsafe-typecast)
            job.remaining = remaining - uint128(owed);
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        a.balance += uint128(owed);
        a.settledResults += fresh;
        _accounts[worker] = a;
        emit ClaimRedeemed(c.jobId, worker, results, owed);
    }

    /// @dev The claim's job, after the checks that need only the job and the signature.
    function _claimedJob(Claim calldata c) private view returns (StoredJob storage job) {
        bytes32 jobId = c.jobId;
        job = _jobs[jobId];
        if (job.requester == address(0)) revert UnknownJob(jobId);
        if (job.refunded) revert AlreadyRefunded(jobId);
        uint256 closesAt = uint256(job.deadline) + CLAIM_WINDOW;
        if (block.timestamp > closesAt) revert ClaimWindowClosed(jobId, closesAt);
        // Reverts on malformed, malleable (high-s) or unrecoverable signatures; never returns 0.
        address signer = ECDSA.recoverCalldata(_claimDigest(jobId, c.worker, c.results), c.signature);
        address coordinator = job.coordinator;
        if (signer != coordinator) revert NotCoordinator(jobId, signer, coordinator);
        if (c.worker == address(0)) revert ZeroAddress();
        uint256 max = uint256(job.taskCount) * job.replicas;
        if (c.results > max) revert ClaimTooLarge(jobId, c.results, max);
    }

    /// @dev Sets the results paid to account `id` in `jobId` to `results` when that is more than
    /// before, leaves them when it is the same, reverts when it is fewer; returns what they were.
    function _advanceRedeemed(bytes32 jobId, uint256 id, address worker, uint32 results)
        private
        returns (uint32 redeemed)
    {
        mapping(uint256 => uint256) storage words = _redeemed[jobId];
        uint256 word = words[id >> 3];
        uint256 shift = (id & 7) << 5;
        // The lane's 32 bits: truncating the words above them is the point.
        // forge-lint: disable-next-line(unsafe-typecast)
        redeemed = uint32(word >> shift);
        if (results < redeemed) revert ClaimNotNewer(jobId, worker, results, redeemed);
        if (results == redeemed) return redeemed;
        words[id >> 3] = (word & ~(uint256(type(uint32).max) << shift)) | (uint256(results) << shift);
    }

    /// @dev The EIP-712 digest of Claim(jobId, worker, results), hashed in scratch memory.
    function _claimDigest(bytes32 jobId, address worker, uint32 results) private view returns (bytes32) {
        bytes32 typeHash = CLAIM_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typeHash)
            mstore(add(p, 0x20), jobId)
            mstore(add(p, 0x40), worker)
            mstore(add(p, 0x60), results)
            structHash := keccak256(p, 0x80)
        }
        return _hashTypedDataV4(structHash);
    }

    // ----------------------------------------------------------------------------------------
    // Record
    // ----------------------------------------------------------------------------------------

    /// @notice Records tasks' accepted results, signed by the job's coordinator over
    /// Record(jobId, keccak256(tasks), recorder). `tasks` is a run of records, each `taskIndex`
    /// (4 bytes, big-endian) ‖ `resultHash` (32). Tasks already recorded are skipped (two parties
    /// may race to send the same records). Anyone may send it; `recorder` is credited feePerTask
    /// per newly recorded task, or the sender when `recorder` is address(0) (a record any relayer
    /// may be paid for, and any copier of its transaction too). A callback job's requester is
    /// called for each. Emits one ResultsRecorded with the newly recorded records, or none when
    /// there are none.
    /// @param recorder the account the coordinator signed the fees to; address(0): the sender.
    /// @return recorded How many tasks were newly recorded.
    function record(bytes32 jobId, bytes calldata tasks, address recorder, bytes calldata signature)
        external
        returns (uint256 recorded)
    {
        StoredJob storage job = _jobs[jobId];
        if (job.requester == address(0)) revert UnknownJob(jobId);
        if (job.refunded) revert AlreadyRefunded(jobId);
        uint256 closesAt = uint256(job.deadline) + CLAIM_WINDOW;
        if (block.timestamp > closesAt) revert ClaimWindowClosed(jobId, closesAt);

        // The event's data, ABI-encoded in place: offset 0x20 ‖ length ‖ the records ‖ padding.
        uint256 buf;
        uint256 len = tasks.length;
        bytes32 tasksHash;
        assembly ("memory-safe") {
            buf := mload(0x40)
            mstore(buf, 0x20)
            mstore(add(buf, 0x20), len)
            calldatacopy(add(buf, 0x40), tasks.offset, len)
            tasksHash := keccak256(add(buf, 0x40), len)
            // The records, rounded up to a word, and one word more to zero the padding.
            mstore(0x40, add(add(buf, 0x60), and(add(len, 31), not(31))))
        }
        {
            address signer = ECDSA.recoverCalldata(_recordDigest(jobId, tasksHash, recorder), signature);
            address coordinator = job.coordinator;
            if (signer != coordinator) revert NotCoordinator(jobId, signer, coordinator);
        }
        if (len == 0 || len % 36 != 0) revert MalformedTasks(jobId, len);
        if (recorder == address(0)) recorder = msg.sender;

        uint256 kept;
        if (job.callback) {
            kept = _recordEach(jobId, job, tasks, buf, recorder);
            recorded = kept / 36;
        } else {
            kept = _recordAll(jobId, job, tasks, buf);
            recorded = kept / 36;
            _countAll(job, recorded, recorder);
        }
        if (recorded == 0) return 0;
        bytes32 topic = ResultsRecorded.selector;
        assembly ("memory-safe") {
            mstore(add(buf, 0x20), kept)
            mstore(add(add(buf, 0x40), kept), 0)
            log2(buf, add(0x40, and(add(kept, 31), not(31))), topic, jobId)
        }
    }

    /// @dev Records without callbacks: the word of recorded bits in hand is written once it is
    /// done with (the count and fees follow once, in _countAll). Copies each newly recorded
    /// record to the event buffer at `buf` (in place: records only ever move forward); returns
    /// their bytes.
    function _recordAll(bytes32 jobId, StoredJob storage job, bytes calldata tasks, uint256 buf)
        private
        returns (uint256 kept)
    {
        mapping(uint256 => uint256) storage words = _recorded[jobId];
        uint256 taskCount = job.taskCount;
        uint256 held = type(uint256).max; // index of the word in hand; none yet
        uint256 bits;
        bool skipped;
        uint256 len = tasks.length;
        for (uint256 off = 0; off < len;) {
            uint256 taskIndex;
            assembly ("memory-safe") {
                taskIndex := shr(224, calldataload(add(tasks.offset, off)))
            }
            // forge-lint: disable-next-line(unsafe-typecast)
            if (taskIndex >= taskCount) revert TaskOutOfRange(jobId, uint32(taskIndex), uint32(taskCount));
            uint256 w = taskIndex >> 8;
            if (w != held) {
                if (held != type(uint256).max) words[held] = bits;
                held = w;
                bits = words[w];
            }
            // forge-lint: disable-next-line(incorrect-shift)
            uint256 bit = 1 << (taskIndex & 255);
            if (bits & bit == 0) {
                bits |= bit;
                if (skipped) {
                    assembly ("memory-safe") {
                        calldatacopy(add(add(buf, 0x40), kept), add(tasks.offset, off), 36)
                    }
                }
                // Cannot overflow: kept <= off < len < 2^64.
                unchecked {
                    kept += 36;
                }
            } else {
                skipped = true;
            }
            // Cannot overflow: off < len < 2^64.
            unchecked {
                off += 36;
            }
        }
        words[held] = bits;
    }

    /// @dev After _recordAll: `n` tasks newly recorded, their fees credited to `payee`.
    function _countAll(StoredJob storage job, uint256 n, address payee) private {
        if (n == 0) return;
        uint128 credit;
        // Cannot overflow: each task is recorded once, so recordedCount + n <= taskCount < 2^32, and
        // n × feePerTask <= taskCount × feePerTask, which createJob checked fits 128 bits.
        unchecked {
            // forge-lint: disable-next-line(unsafe-typecast)
            job.recordedCount += uint32(n);
            // forge-lint: disable-next-line(unsafe-typecast)
            credit = uint128(n * job.feePerTask);
        }
        if (credit != 0) _accounts[payee].balance += credit;
    }

    /// @dev Records for a callback job: each task's bit, the count and `payee`'s fee are
    /// written before its callback runs, and read again after it (the callback may record too).
    function _recordEach(bytes32 jobId, StoredJob storage job, bytes calldata tasks, uint256 buf, address payee)
        private
        returns (uint256 kept)
    {
        bool skipped;
        uint256 len = tasks.length;
        for (uint256 off = 0; off < len;) {
            uint256 taskIndex;
            bytes32 resultHash;
            assembly ("memory-safe") {
                let p := add(tasks.offset, off)
                taskIndex := shr(224, calldataload(p))
                resultHash := calldataload(add(p, 4))
            }
            if (_recordOne(jobId, job, taskIndex, resultHash, payee)) {
                if (skipped) {
                    assembly ("memory-safe") {
                        calldatacopy(add(add(buf, 0x40), kept), add(tasks.offset, off), 36)
                    }
                }
                // Cannot overflow: kept <= off < len < 2^64.
                unchecked {
                    kept += 36;
                }
            } else {
                skipped = true;
            }
            // Cannot overflow: off < len < 2^64.
            unchecked {
                off += 36;
            }
        }
    }

    /// @dev One task of a callback job: false if it was recorded already, else its books (and
    /// `payee`'s fee) are written and then its requester called.
    function _recordOne(bytes32 jobId, StoredJob storage job, uint256 taskIndex, bytes32 resultHash, address payee)
        private
        returns (bool)
    {
        uint32 taskCount = job.taskCount;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (taskIndex >= taskCount) revert TaskOutOfRange(jobId, uint32(taskIndex), taskCount);
        mapping(uint256 => uint256) storage words = _recorded[jobId];
        // forge-lint: disable-next-line(incorrect-shift)
        uint256 bit = 1 << (taskIndex & 255);
        uint256 bits = words[taskIndex >> 8];
        if (bits & bit != 0) return false;
        words[taskIndex >> 8] = bits | bit;
        // Cannot overflow: each task is recorded once, so recordedCount <= taskCount < 2^32.
        unchecked {
            job.recordedCount += 1;
        }
        uint128 fee = job.feePerTask;
        if (fee != 0) _accounts[payee].balance += fee;
        // taskIndex < taskCount < 2^32 was checked above.
        // forge-lint: disable-next-line(unsafe-typecast)
        _callback(job.requester, jobId, uint32(taskIndex), resultHash);
        return true;
    }

    /// @dev The EIP-712 digest of Record(jobId, tasksHash, recorder), hashed in scratch memory.
    function _recordDigest(bytes32 jobId, bytes32 tasksHash, address recorder) private view returns (bytes32) {
        bytes32 typeHash = RECORD_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typeHash)
            mstore(add(p, 0x20), jobId)
            mstore(add(p, 0x40), tasksHash)
            mstore(add(p, 0x60), recorder)
            structHash := keccak256(p, 0x80)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @dev After every state change of the task. The sender must leave the callback its gas
    /// (else it could make it fail on purpose); a callback that fails is reported, not fatal.
    function _callback(address requester, bytes32 jobId, uint32 taskIndex, bytes32 resultHash) private {
        if (gasleft() < (CALLBACK_GAS * 64) / 63 + 5_000) revert NotEnoughGasForCallback(gasleft());
        try IJobCallback(requester).onTaskSettled{gas: CALLBACK_GAS}(jobId, taskIndex, resultHash) {}
        catch {
            emit CallbackFailed(jobId, taskIndex);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Refund
    // ----------------------------------------------------------------------------------------

    /// @notice After `deadline + CLAIM_WINDOW`, returns what is left of the escrow (rewards not
    /// redeemed, fees not earned) to the requester, once. Anyone may call, except for a callback
    /// job, which only its requester may refund. The requester is sent the ether with REFUND_GAS
    /// (the caller must leave that much: NotEnoughGasForRefund); if it does not take it (a
    /// contract without `receive`), the amount is credited to `refundsOf(requester)` instead
    /// (RefundCredited), so the refund never fails for the requester's sake.
    /// @return amount Wei refunded, sent or credited.
    function refund(bytes32 jobId) external nonReentrant returns (uint256 amount) {
        StoredJob storage job = _jobs[jobId];
        address requester = job.requester;
        if (requester == address(0)) revert UnknownJob(jobId);
        if (job.callback && msg.sender != requester) revert NotRequester(jobId, msg.sender, requester);
        uint256 closesAt = uint256(job.deadline) + CLAIM_WINDOW;
        if (block.timestamp <= closesAt) revert ClaimWindowOpen(jobId, closesAt);
        if (job.refunded) revert AlreadyRefunded(jobId);
        amount = uint256(job.remaining) + _feesLeft(job);
        job.refunded = true;
        job.remaining = 0;
        emit Refunded(jobId, requester, amount);
        if (amount == 0) return 0;
        // Anyone may refund a plain job, so the requester must get all of REFUND_GAS: a send that
        // fails is then the requester's doing, never a caller's that sent too little gas (which
        // would leave the ether credited to a contract that takes ether but may have no way to
        // call withdrawRefund). The 63/64 rule alone nearly ensures it; this makes it explicit.
        if (gasleft() < (REFUND_GAS * 64) / 63 + 15_000) revert NotEnoughGasForRefund(gasleft());
        (bool ok,) = requester.call{value: amount, gas: REFUND_GAS}("");
        if (!ok) {
            refundsOf[requester] += amount;
            emit RefundCredited(jobId, requester, amount);
        }
    }

    /// @notice Sends the caller's credited refunds (`refundsOf(msg.sender)`) to `to`, an address
    /// the requester names because it could not take them itself.
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

    /// @dev Fees of the tasks not recorded yet; 0 once refunded.
    function _feesLeft(StoredJob storage job) private view returns (uint256) {
        if (job.refunded) return 0;
        // Cannot underflow: recordedCount <= taskCount.
        unchecked {
            return uint256(job.taskCount - job.recordedCount) * job.feePerTask;
        }
    }

    // ----------------------------------------------------------------------------------------
    // Stake
    // ----------------------------------------------------------------------------------------

    /// @notice Adds the sent ether to the sender's active stake.
    function stake() external payable {
        _stake(msg.sender);
    }

    /// @notice Adds the sent ether to `worker`'s active stake: a wallet can back a browser tab's
    /// key, which holds no ether. Only `worker` can unstake it, and it is paid back to `worker`.
    function stakeFor(address worker) external payable {
        if (worker == address(0)) revert ZeroAddress();
        _stake(worker);
    }

    function _stake(address worker) private {
        if (msg.value == 0) revert ZeroStake();
        Stake storage s = _stakes[worker];
        s.active += SafeCast.toUint128(msg.value);
        emit Staked(worker, msg.sender, msg.value, s.active);
    }

    /// @notice Moves `amount` of active stake to unstaking; it can be withdrawn UNSTAKE_DELAY
    /// from now and stays slashable until then. Asking again restarts the delay for all of it.
    function requestUnstake(uint128 amount) external {
        Stake storage s = _stakes[msg.sender];
        if (amount == 0 || amount > s.active) revert InsufficientStake(amount, s.active);
        s.active -= amount;
        s.unstaking += amount;
        s.unlockAt = uint64(block.timestamp) + UNSTAKE_DELAY;
        emit UnstakeRequested(msg.sender, amount, s.unlockAt);
    }

    /// @notice Sends `worker` its unstaked ether once the delay has passed. Anyone may pay the
    /// gas (as with `withdraw`); the ether only ever goes to `worker`.
    function withdrawStake(address worker) external nonReentrant returns (uint256 amount) {
        Stake storage s = _stakes[worker];
        amount = s.unstaking;
        if (amount == 0) revert NothingToUnstake(worker);
        if (block.timestamp < s.unlockAt) revert StakeLocked(s.unlockAt);
        s.unstaking = 0;
        emit StakeWithdrawn(worker, amount);
        (bool ok,) = worker.call{value: amount}("");
        if (!ok) revert TransferFailed(worker, amount);
    }

    /// @notice Slashes a worker that signed two different results for one task: all its stake,
    /// active and unstaking. Half is credited to the caller (withdraw it like pay), half burned.
    function slash(
        bytes32 jobId,
        uint32 taskIndex,
        bytes32 hashA,
        bytes calldata sigA,
        bytes32 hashB,
        bytes calldata sigB
    ) external returns (uint256 amount) {
        if (_jobs[jobId].requester == address(0)) revert UnknownJob(jobId);
        if (hashA == hashB) revert SameResult(hashA);
        address a = ECDSA.recoverCalldata(_resultDigest(jobId, taskIndex, hashA), sigA);
        address b = ECDSA.recoverCalldata(_resultDigest(jobId, taskIndex, hashB), sigB);
        if (a != b) revert NotEquivocation(a, b);
        Stake storage s = _stakes[a];
        amount = uint256(s.active) + s.unstaking;
        if (amount == 0) revert NothingToSlash(a);
        s.active = 0;
        s.unstaking = 0;
        uint256 reward = amount / 2;
        // reward <= amount / 2 < 2^128 (active and unstaking are each below 2^128); the sum is checked.
        // forge-lint: disable-next-line(unsafe-typecast)
        _accounts[msg.sender].balance += uint128(reward);
        _accounts[a].slashes += 1;
        burned += amount - reward;
        emit Slashed(a, jobId, taskIndex, amount, msg.sender, reward);
    }

    /// @dev The EIP-712 digest a worker signs for one result, hashed in scratch memory.
    function _resultDigest(bytes32 jobId, uint32 taskIndex, bytes32 resultHash) private view returns (bytes32) {
        bytes32 typeHash = RESULT_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typeHash)
            mstore(add(p, 0x20), jobId)
            mstore(add(p, 0x40), taskIndex)
            mstore(add(p, 0x60), resultHash)
            structHash := keccak256(p, 0x80)
        }
        return _hashTypedDataV4(structHash);
    }

    // ----------------------------------------------------------------------------------------
    // Payouts
    // ----------------------------------------------------------------------------------------

    /// @notice Sends a worker everything credited to it, to its payout address if it set one,
    /// else to `worker`. Anyone may call; the money only ever goes where the worker chose, so a
    /// worker whose key holds no gas can be paid out by someone else.
    function withdraw(address payable worker) external nonReentrant returns (uint256 amount) {
        amount = _accounts[worker].balance;
        if (amount == 0) revert NothingToWithdraw(worker);
        _accounts[worker].balance = 0;
        address to = _payouts[worker].payout;
        if (to == address(0)) to = worker;
        emit Withdrawn(worker, to, amount);
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    /// @notice Records workers' payout authorisations. Anyone may submit them (a coordinator does
    /// for the workers it paid). One whose nonce is not above the worker's last is skipped, so two
    /// parties racing with the same authorisation both succeed; a bad signature reverts the batch.
    /// Pay already credited and not yet withdrawn follows the newest payout address.
    /// @return set How many authorisations were recorded.
    function setPayouts(PayoutAuth[] calldata auths) external returns (uint256 set) {
        for (uint256 i = 0; i < auths.length; ++i) {
            PayoutAuth calldata a = auths[i];
            if (a.payout == address(0)) revert ZeroAddress();
            PayoutTo storage current = _payouts[a.worker];
            if (a.nonce <= current.nonce) continue;
            bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(PAYOUT_TYPEHASH, a.worker, a.payout, a.nonce)));
            address signer = ECDSA.recoverCalldata(digest, a.signature);
            if (signer != a.worker) revert BadPayoutSignature(a.worker, signer);
            current.payout = a.payout;
            current.nonce = a.nonce;
            emit PayoutSet(a.worker, a.payout, a.nonce);
            ++set;
        }
    }

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @notice The job; every field is zero (`requester == address(0)`) for an unknown id.
    function getJob(bytes32 jobId) external view returns (Job memory j) {
        StoredJob storage s = _jobs[jobId];
        j.requester = s.requester;
        j.coordinator = s.coordinator;
        j.taskCount = s.taskCount;
        j.recordedCount = s.recordedCount;
        j.replicas = s.replicas;
        j.quorum = s.quorum;
        j.refunded = s.refunded;
        j.callback = s.callback;
        j.rewardPerResult = s.rewardPerResult;
        j.remaining = s.remaining;
        j.feePerTask = s.feePerTask;
        // At most taskCount × feePerTask, which createJob checked fits 128 bits.
        // forge-lint: disable-next-line(unsafe-typecast)
        j.feesLeft = uint128(_feesLeft(s));
        j.minStake = s.minStake;
        j.deadline = s.deadline;
        j.modelHash = s.modelHash;
        j.inputsRoot = s.inputsRoot;
        j.policy = s.policy;
        j.createdBlock = s.createdBlock;
    }

    /// @notice Which of `jobIds` exist here: bit `i` of the result is set for `jobIds[i]` (at most
    /// 256 ids). One call checks a batch of announced ids without reading logs, which RPC
    /// providers limit to a range of blocks.
    function created(bytes32[] calldata jobIds) external view returns (uint256 bits) {
        uint256 n = jobIds.length;
        if (n > 256) revert TooManyIds(n);
        for (uint256 i = 0; i < n;) {
            // forge-lint: disable-next-line(incorrect-shift)
            if (_jobs[jobIds[i]].requester != address(0)) bits |= 1 << i;
            // Cannot overflow: i < n <= 256.
            unchecked {
                ++i;
            }
        }
    }

    /// @notice Whether task `taskIndex` of `jobId` has its result recorded.
    function isRecorded(bytes32 jobId, uint32 taskIndex) external view returns (bool) {
        // forge-lint: disable-next-line(incorrect-shift)
        return _recorded[jobId][taskIndex >> 8] & (1 << (taskIndex & 255)) != 0;
    }

    /// @notice Results of `worker` paid so far in `jobId` (the newest claim redeemed).
    function redeemedOf(bytes32 jobId, address worker) external view returns (uint32) {
        uint256 id = _accounts[worker].id;
        if (id == 0) return 0;
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(_redeemed[jobId][id >> 3] >> ((id & 7) << 5));
    }

    /// @notice Credited and not yet withdrawn.
    function balanceOf(address worker) external view returns (uint256) {
        return _accounts[worker].balance;
    }

    /// @notice A worker's pay, paid results, slashes and account id.
    function accountOf(address worker) external view returns (Account memory) {
        return _accounts[worker];
    }

    /// @notice Where a worker's pay goes (`payout == address(0)`: to the worker itself) and the
    /// nonce of its last authorisation.
    function payoutOf(address worker) external view returns (PayoutTo memory) {
        return _payouts[worker];
    }

    /// @notice A worker's stake.
    function stakeOf(address worker) external view returns (Stake memory) {
        return _stakes[worker];
    }

    /// @notice The EIP-712 domain separator that every signature here is made under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}

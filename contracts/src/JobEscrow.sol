// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Meshwork job escrow
/// @notice A requester escrows `taskCount × replicas × rewardPerResult` for a job. A task is
/// settled with a quorum certificate: at least `quorum` EIP-712 signatures over
/// `Result(jobId, taskIndex, resultHash)` by distinct workers, signers strictly ascending. Each
/// signer is credited `rewardPerResult` (pull payments, `withdraw`). After the deadline nothing
/// settles and the unspent escrow goes back to the requester (`refund`).
/// The requester's own `settle` call may carry fewer signatures than the quorum (down to one):
/// its coordinator decided that a trusted worker's result suffices (adaptive replication, see
/// docs/trust.md); anyone else needs the full quorum, so workers can settle without the requester.
/// Workers may stake; stake leaves only UNSTAKE_DELAY after it is asked back, and anyone holding
/// two signatures by one worker over different results for the same task can slash all of it:
/// half goes to the reporter, half is burned (locked here forever), so self-reporting loses half.
/// Every settled signature counts toward the worker's on-chain record (`accountOf`).
/// A contract may open a job with `createJobWithCallback`: each settled task then calls its
/// `onTaskSettled` with the accepted result hash (bounded gas; a failing callback never blocks
/// settlement or pay). MeshworkRequests uses this to answer on-chain requests.
/// A worker may direct its pay elsewhere (`setPayouts`): an EIP-712 `Payout(worker, payout, nonce)`
/// signed by the worker's key, submitted by anyone. A browser tab's key holds no ether and lives in
/// storage its visitor may clear; an embedding site points the tab's pay at its treasury this way.
/// @dev The EIP-712 domain is ("Meshwork", "1", chainid, this), so signatures cannot be replayed
/// on another chain or against another deployment. OpenZeppelin's ECDSA rejects malleable
/// (high-s) and malformed signatures; strictly ascending signers make duplicates impossible.
/// @notice Implemented by a contract that opened jobs with `createJobWithCallback`.
interface IJobCallback {
    function onTaskSettled(bytes32 jobId, uint32 taskIndex, bytes32 resultHash) external;
}

contract JobEscrow is EIP712, ReentrancyGuard {
    /// @notice EIP-712 type hash of a worker's signed result.
    bytes32 public constant RESULT_TYPEHASH = keccak256("Result(bytes32 jobId,uint32 taskIndex,bytes32 resultHash)");

    /// @notice EIP-712 type hash of a worker's payout authorisation.
    bytes32 public constant PAYOUT_TYPEHASH = keccak256("Payout(address worker,address payout,uint64 nonce)");

    /// @notice What a requester chooses for a job.
    struct JobParams {
        bytes32 modelHash; // sha256 of the ONNX model file
        bytes32 inputsRoot; // Merkle root over the task input leaves
        bytes32 policy; // agreement policy as UTF-8 text, right-padded ("exact", "round:4", ...)
        uint32 taskCount;
        uint8 replicas; // results paid per task, at most
        uint8 quorum; // agreeing results needed, 1 <= quorum <= replicas
        uint64 deadline; // unix seconds; settle until then, refund after
        uint128 rewardPerResult; // wei per agreeing result
    }

    /// @notice A job as stored. Packed: slot 0 holds requester to callback, slot 1 the amounts.
    struct Job {
        address requester;
        uint32 taskCount;
        uint32 settledCount;
        uint8 replicas;
        uint8 quorum;
        bool refunded;
        bool callback; // call requester.onTaskSettled for each settled task (fills slot 0)
        uint128 rewardPerResult;
        uint128 remaining; // escrow not yet credited or refunded
        uint64 deadline;
        bytes32 modelHash;
        bytes32 inputsRoot;
        bytes32 policy;
    }

    /// @notice A quorum certificate for one task.
    struct Certificate {
        bytes32 jobId;
        uint32 taskIndex;
        bytes32 resultHash;
        bytes[] signatures; // 65-byte (r, s, v) signatures, signers strictly ascending
    }

    /// @notice Certificates for tasks of one job, packed (`settlePacked`). `tasks` is a run of
    /// records, each `taskIndex` (4 bytes, big-endian) ‖ `resultHash` (32) ‖ `n` (1) ‖ n signatures
    /// of 64 bytes in EIP-2098 compact form (`r` ‖ `vs`, the y parity in the top bit of `s`),
    /// signers strictly ascending. About 60 % of the calldata of the same certificates ABI-encoded.
    struct JobTasks {
        bytes32 jobId;
        bytes tasks;
    }

    /// @notice A worker's pay and record, one storage slot.
    struct Account {
        uint128 balance; // credited, not yet withdrawn (wei)
        uint64 settledResults; // signatures of its in settled certificates
        uint32 slashes; // times its stake was slashed
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

    /// @notice Gas given to a requester's `onTaskSettled`.
    uint256 public constant CALLBACK_GAS = 100_000;

    /// @notice How long stake stays slashable after it is asked back.
    uint64 public constant UNSTAKE_DELAY = 3 days;

    mapping(bytes32 jobId => Job) private _jobs;
    /// @dev One bit per task: settled or not, 256 tasks per word.
    mapping(bytes32 jobId => mapping(uint256 word => uint256 bits)) private _settled;
    /// @notice Credited and not yet withdrawn, per worker.
    mapping(address worker => Account) private _accounts;
    mapping(address worker => Stake) private _stakes;
    mapping(address worker => PayoutTo) private _payouts;
    /// @notice Slashed ether locked here forever.
    uint256 public burned;
    /// @notice Jobs created per requester; part of the next job id.
    mapping(address requester => uint256) public jobNonce;

    event JobCreated(
        bytes32 indexed jobId,
        address indexed requester,
        bytes32 modelHash,
        bytes32 inputsRoot,
        bytes32 policy,
        uint32 taskCount,
        uint8 replicas,
        uint8 quorum,
        uint128 rewardPerResult,
        uint64 deadline
    );
    event TaskSettled(bytes32 indexed jobId, uint32 indexed taskIndex, bytes32 resultHash, address[] signers);
    /// @notice One per `JobTasks` entry that settled anything: `signers` lists each signer once,
    /// and `tasks` holds one record per newly settled task, `taskIndex` (4 bytes) ‖ `resultHash`
    /// (32) ‖ `n` (1) ‖ n one-byte indices into `signers`.
    event TasksSettled(bytes32 indexed jobId, address[] signers, bytes tasks);
    event CallbackFailed(bytes32 indexed jobId, uint32 indexed taskIndex);
    event Withdrawn(address indexed worker, address indexed to, uint256 amount);
    event PayoutSet(address indexed worker, address indexed payout, uint64 nonce);
    event Refunded(bytes32 indexed jobId, address indexed requester, uint256 amount);
    event Staked(address indexed worker, address indexed from, uint256 amount, uint256 active);
    event UnstakeRequested(address indexed worker, uint256 amount, uint64 unlockAt);
    event StakeWithdrawn(address indexed worker, uint256 amount);
    event Slashed(
        address indexed worker, bytes32 indexed jobId, uint32 taskIndex, uint256 amount, address indexed reporter, uint256 reward
    );

    error NoTasks();
    error QuorumOutOfRange(uint8 quorum, uint8 replicas);
    error ZeroReward();
    error DeadlineNotInFuture(uint64 deadline, uint256 nowTs);
    error WrongEscrow(uint256 expected, uint256 sent);
    error UnknownJob(bytes32 jobId);
    error JobClosed(bytes32 jobId);
    error TaskOutOfRange(bytes32 jobId, uint32 taskIndex, uint32 taskCount);
    error TooFewSignatures(uint256 count, uint8 quorum);
    error TooManySignatures(uint256 count, uint8 replicas);
    error SignersNotAscending(uint256 index, address signer);
    error NotExpired(bytes32 jobId, uint64 deadline);
    error AlreadyRefunded(bytes32 jobId);
    error NothingToWithdraw(address worker);
    error TransferFailed(address to, uint256 amount);
    error ZeroStake();
    error ZeroAddress();
    error InsufficientStake(uint256 requested, uint256 active);
    error StakeLocked(uint64 unlockAt);
    error NothingToUnstake(address worker);
    error SameResult(bytes32 resultHash);
    error NotEquivocation(address signerA, address signerB);
    error NothingToSlash(address worker);
    error CallbackNeedsContract(address requester);
    error NotEnoughGasForCallback(uint256 left);
    error BadPayoutSignature(address worker, address signer);
    error MalformedTasks(bytes32 jobId, uint256 offset);
    error TooManySigners(bytes32 jobId, uint256 max);

    constructor() EIP712("Meshwork", "1") {}

    /// @notice Opens a job and escrows exactly taskCount × replicas × rewardPerResult.
    /// @return jobId keccak256(chainid, this contract, requester, the requester's job nonce).
    function createJob(JobParams calldata p) external payable returns (bytes32 jobId) {
        return _createJob(p, false);
    }

    /// @notice Like createJob, for a contract requester that wants `onTaskSettled` called as each
    /// task settles.
    function createJobWithCallback(JobParams calldata p) external payable returns (bytes32 jobId) {
        if (msg.sender.code.length == 0) revert CallbackNeedsContract(msg.sender);
        return _createJob(p, true);
    }

    function _createJob(JobParams calldata p, bool callback) private returns (bytes32 jobId) {
        if (p.taskCount == 0) revert NoTasks();
        if (p.quorum == 0 || p.quorum > p.replicas) revert QuorumOutOfRange(p.quorum, p.replicas);
        if (p.rewardPerResult == 0) revert ZeroReward();
        if (p.deadline <= block.timestamp) revert DeadlineNotInFuture(p.deadline, block.timestamp);
        // Cannot overflow: 2^32 × 2^8 × 2^128 < 2^256.
        uint256 expected = uint256(p.taskCount) * p.replicas * p.rewardPerResult;
        if (msg.value != expected) revert WrongEscrow(expected, msg.value);

        jobId = keccak256(abi.encode(block.chainid, address(this), msg.sender, jobNonce[msg.sender]++));
        _jobs[jobId] = Job({
            requester: msg.sender,
            taskCount: p.taskCount,
            settledCount: 0,
            replicas: p.replicas,
            quorum: p.quorum,
            refunded: false,
            callback: callback,
            rewardPerResult: p.rewardPerResult,
            // msg.value is bounded by the ether supply, far below 2^128.
            remaining: uint128(msg.value),
            deadline: p.deadline,
            modelHash: p.modelHash,
            inputsRoot: p.inputsRoot,
            policy: p.policy
        });
        emit JobCreated(
            jobId, msg.sender, p.modelHash, p.inputsRoot, p.policy, p.taskCount, p.replicas, p.quorum, p.rewardPerResult, p.deadline
        );
    }

    /// @notice Settles quorum certificates and credits every signer. Tasks already settled are
    /// skipped (two honest parties may race to settle the same task); any invalid certificate
    /// reverts the whole batch.
    /// @return settled How many certificates were newly settled.
    function settle(Certificate[] calldata certs) external returns (uint256 settled) {
        for (uint256 i = 0; i < certs.length; ++i) {
            if (_settleOne(certs[i])) ++settled;
        }
    }

    function _openJob(bytes32 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.requester == address(0)) revert UnknownJob(jobId);
        if (job.refunded || block.timestamp > job.deadline) revert JobClosed(jobId);
    }

    /// @dev The EIP-712 digest a worker signs for one result, hashed in scratch memory (no
    /// allocation per task).
    function _resultDigest(bytes32 jobId, uint32 taskIndex, bytes32 resultHash) private view returns (bytes32 digest) {
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

    function _settleOne(Certificate calldata c) private returns (bool) {
        Job storage job = _openJob(c.jobId);
        if (c.taskIndex >= job.taskCount) revert TaskOutOfRange(c.jobId, c.taskIndex, job.taskCount);

        uint256 word = c.taskIndex >> 8;
        // forge-lint: disable-next-line(incorrect-shift)
        uint256 bit = 1 << (c.taskIndex & 255);
        uint256 bits = _settled[c.jobId][word];
        if (bits & bit != 0) return false;

        uint256 n = c.signatures.length;
        // The requester may accept fewer agreeing results than the quorum (never none).
        uint8 needed = msg.sender == job.requester ? 1 : job.quorum;
        if (n < needed) revert TooFewSignatures(n, needed);
        if (n > job.replicas) revert TooManySignatures(n, job.replicas);

        bytes32 digest = _resultDigest(c.jobId, c.taskIndex, c.resultHash);
        address[] memory signers = new address[](n);
        address prev = address(0);
        uint128 reward = job.rewardPerResult;
        for (uint256 j = 0; j < n; ++j) {
            // Reverts on malformed, malleable (high-s) or unrecoverable signatures; never returns 0.
            address signer = ECDSA.recover(digest, c.signatures[j]);
            if (signer <= prev) revert SignersNotAscending(j, signer);
            prev = signer;
            signers[j] = signer;
            Account storage a = _accounts[signer];
            a.balance += reward;
            a.settledResults += 1;
        }

        _settled[c.jobId][word] = bits | bit;
        // Cannot underflow: each task pays at most `replicas` rewards and is settled once, and
        // `remaining` started at taskCount × replicas × reward.
        // `n <= replicas <= 255`, so the cast to uint128 cannot truncate.
        unchecked {
            // forge-lint: disable-next-line(unsafe-typecast)
            job.remaining -= uint128(n) * reward;
            job.settledCount += 1;
        }
        emit TaskSettled(c.jobId, c.taskIndex, c.resultHash, signers);
        if (job.callback) _callback(job.requester, c.jobId, c.taskIndex, c.resultHash);
        return true;
    }

    /// @notice Settles certificates in packed form (see `JobTasks`) for well under half the gas
    /// per task of `settle`: compact signatures, no ABI offsets, one event per entry, and each
    /// signer's account and the job's books written once per entry instead of once per task.
    /// Same rules as `settle`: tasks already settled are skipped, any invalid certificate reverts
    /// the whole call. An entry may have at most 255 distinct signers.
    /// @return settled How many tasks were newly settled.
    function settlePacked(JobTasks[] calldata jobs) external returns (uint256 settled) {
        for (uint256 i = 0; i < jobs.length; ++i) {
            settled += _settleJob(jobs[i].jobId, jobs[i].tasks);
        }
    }

    /// @dev One `JobTasks` entry in progress: the job's terms, read once, and what is owed but
    /// not yet written (settled bits, the job's books, signers' accounts), written by `_flush`.
    /// `_settleRecords` reads and writes these fields by position (a memory struct lays out each
    /// field in one 32-byte word, in order): keep the order, or change the offsets there too.
    struct Batch {
        bytes32 jobId; // 0x000
        address requester; // 0x020
        uint256 taskCount; // 0x040
        uint256 replicas; // 0x060
        uint256 needed; // 0x080 signatures a certificate needs from this caller
        bool callback; // 0x0a0
        uint256 reward; // 0x0c0
        uint256 bitsBase; // 0x0e0 the storage slot of _settled[jobId]
        bytes32 domain; // 0x100 EIP-712 domain separator
        uint256 wordIndex; // 0x120 which word of settled bits `word` holds; NO_WORD for none
        uint256 word; // 0x140
        uint256 tasks; // 0x160 tasks settled and not yet added to the job's settledCount
        uint256 results; // 0x180 their signatures, not yet taken from the job's remaining escrow
        uint256 signerCount; // 0x1a0
        address[] signers; // 0x1c0 the event's signer table, 255 entries allocated
        uint256[] owed; // 0x1e0 results per signer not yet credited to its account
        bytes out; // 0x200 the event's task records
        uint256 outLen; // 0x220
        uint256 lastTask; // 0x240 the last task settled, and its result (for the callback)
        bytes32 lastHash; // 0x260
        bytes32 typeHash; // 0x280 RESULT_TYPEHASH
    }

    uint256 private constant NO_WORD = type(uint256).max;

    function _settleJob(bytes32 jobId, bytes calldata data) private returns (uint256 settled) {
        Job storage job = _openJob(jobId);
        Batch memory b;
        b.jobId = jobId;
        b.requester = job.requester;
        b.taskCount = job.taskCount;
        b.replicas = job.replicas;
        // The requester may accept fewer agreeing results than the quorum (never none).
        b.needed = msg.sender == job.requester ? 1 : job.quorum;
        b.callback = job.callback;
        b.reward = job.rewardPerResult;
        uint256 bitsBase;
        assembly ("memory-safe") {
            mstore(0, jobId)
            mstore(0x20, _settled.slot)
            bitsBase := keccak256(0, 0x40)
        }
        b.bitsBase = bitsBase;
        b.domain = _domainSeparatorV4();
        b.typeHash = RESULT_TYPEHASH;
        b.wordIndex = NO_WORD;
        b.signers = new address[](255);
        b.owed = new uint256[](255);
        // Records out are never longer than records in (1-byte indices for 64-byte signatures);
        // one spare word for the last 32-byte store.
        b.out = new bytes(data.length + 32);

        // A callback job's requester runs code after each task: one task at a time, and
        // everything owed is written before its code runs (the settled bits are read again after).
        uint256 step = b.callback ? 1 : type(uint256).max;
        uint256 off = 0;
        while (off < data.length) {
            uint256 n;
            (off, n) = _settleRecords(b, data, off, step);
            settled += n;
            if (b.callback && n == 1) {
                _flush(job, b);
                // Task indices were checked against the uint32 taskCount.
                // forge-lint: disable-next-line(unsafe-typecast)
                _callback(b.requester, jobId, uint32(b.lastTask), b.lastHash);
            }
        }
        _flush(job, b);
        if (settled == 0) return 0;
        address[] memory signers = b.signers;
        bytes memory out = b.out;
        uint256 signerCount = b.signerCount;
        uint256 outLen = b.outLen;
        assembly ("memory-safe") {
            mstore(signers, signerCount)
            mstore(out, outLen)
        }
        emit TasksSettled(jobId, signers, out);
    }

    /// @dev The hot loop of `settlePacked`, in assembly: the same steps written in Solidity
    /// (bounds-checked slices, memory struct access, ecrecover's encoding) cost 14,820 gas per task
    /// at batch 100 against 12,070 here, of which 8,800 are the two ecrecovers and the calldata.
    /// From the record at `off`, settles records until `max` tasks were newly settled or the data
    /// ends; records of tasks settled already (before, or earlier in this data) are skipped.
    /// Checks, in order, as `settle` does: the record's length, task in range, then (unless settled
    /// already) the signature count, each signature (OpenZeppelin's ECDSA errors: high s,
    /// unrecoverable) and strictly ascending signers. Owes each signer one result, records it in
    /// the event's records, and sets the task's bit in the word in hand (written by `_flush`, or
    /// here when the next task is in another word). Returns the next offset and tasks settled.
    function _settleRecords(Batch memory b, bytes calldata data, uint256 off, uint256 max)
        private
        returns (uint256 next, uint256 settled)
    {
        assembly ("memory-safe") {
            // Scratch memory is past the free memory pointer (mload(0x40)): for hashing, ecrecover
            // and revert data.
            function fail1(sel, a) {
                let mem := mload(0x40)
                mstore(mem, shl(224, sel))
                mstore(add(mem, 4), a)
                revert(mem, 0x24)
            }
            function fail2(sel, a, c) {
                let mem := mload(0x40)
                mstore(mem, shl(224, sel))
                mstore(add(mem, 4), a)
                mstore(add(mem, 0x24), c)
                revert(mem, 0x44)
            }

            // Recovers the signer of `digest` from the compact signature at calldata `sig`.
            function recoverSigner(digest, sig) -> signer {
                let mem := mload(0x40)
                let vs := calldataload(add(sig, 32))
                let s := and(vs, 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff)
                // ECDSAInvalidSignatureS(bytes32): a high s (malleable).
                if gt(s, 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0) {
                    fail1(0xd78bce0c, s)
                }
                mstore(mem, digest)
                mstore(add(mem, 0x20), add(shr(255, vs), 27))
                mstore(add(mem, 0x40), calldataload(sig))
                mstore(add(mem, 0x60), s)
                mstore(0, 0)
                pop(staticcall(gas(), 1, mem, 0x80, 0, 0x20))
                signer := mload(0)
                // ECDSAInvalidSignature()
                if iszero(signer) {
                    mstore(mem, shl(224, 0xf645eedf))
                    revert(mem, 4)
                }
            }

            // Owes `signer` one result and returns its index in the signer table.
            function owe(batch, signer) -> k {
                let count := mload(add(batch, 0x1a0))
                let table := add(mload(add(batch, 0x1c0)), 0x20)
                for {} and(lt(k, count), iszero(eq(mload(add(table, shl(5, k))), signer))) {} {
                    k := add(k, 1)
                }
                if eq(k, count) {
                    // TooManySigners(bytes32,uint256)
                    if eq(count, 255) { fail2(0x7e898283, mload(batch), 255) }
                    mstore(add(table, shl(5, k)), signer)
                    mstore(add(batch, 0x1a0), add(count, 1))
                }
                let o := add(add(mload(add(batch, 0x1e0)), 0x20), shl(5, k))
                mstore(o, add(mload(o), 1))
            }

            // Brings the word of settled bits holding task `taskIndex` in hand; returns it.
            function wordFor(batch, taskIndex) -> word {
                let w := shr(8, taskIndex)
                let held := mload(add(batch, 0x120))
                switch eq(w, held)
                case 1 { word := mload(add(batch, 0x140)) }
                default {
                    let base := mload(add(batch, 0xe0))
                    if iszero(eq(held, not(0))) {
                        mstore(0, held)
                        mstore(0x20, base)
                        sstore(keccak256(0, 0x40), mload(add(batch, 0x140)))
                    }
                    mstore(0, w)
                    mstore(0x20, base)
                    word := sload(keccak256(0, 0x40))
                    mstore(add(batch, 0x120), w)
                    mstore(add(batch, 0x140), word)
                }
            }

            // The EIP-712 digest each signer signed: Result(jobId, taskIndex, resultHash).
            function digestOf(batch, taskIndex, resultHash) -> digest {
                let mem := mload(0x40)
                mstore(mem, mload(add(batch, 0x280)))
                mstore(add(mem, 0x20), mload(batch))
                mstore(add(mem, 0x40), taskIndex)
                mstore(add(mem, 0x60), resultHash)
                let structHash := keccak256(mem, 0x80)
                mstore(mem, shl(240, 0x1901))
                mstore(add(mem, 2), mload(add(batch, 0x100)))
                mstore(add(mem, 0x22), structHash)
                digest := keccak256(mem, 0x42)
            }

            // Recovers `n` signers (strictly ascending) from the signatures at calldata `sig`, owes
            // each one result and writes their table indices at memory `o`.
            function recoverAll(batch, digest, sig, n, o) {
                let prev := 0
                for { let j := 0 } lt(j, n) { j := add(j, 1) } {
                    let signer := recoverSigner(digest, add(sig, shl(6, j)))
                    // SignersNotAscending(uint256,address)
                    if iszero(gt(signer, prev)) { fail2(0xbf022a45, j, signer) }
                    prev := signer
                    mstore8(add(o, j), owe(batch, signer))
                }
            }

            // Settles the task of the record at calldata `p` (not settled yet, `bit` of `word`).
            function settleTask(batch, p, taskIndex, n) {
                // TooFewSignatures(uint256,uint8), TooManySignatures(uint256,uint8)
                if lt(n, mload(add(batch, 0x80))) { fail2(0xafe90aa2, n, mload(add(batch, 0x80))) }
                if gt(n, mload(add(batch, 0x60))) { fail2(0x31500088, n, mload(add(batch, 0x60))) }
                let resultHash := calldataload(add(p, 4))
                let digest := digestOf(batch, taskIndex, resultHash)
                let outLen := mload(add(batch, 0x220))
                let o := add(add(mload(add(batch, 0x200)), 0x20), outLen)
                mstore(o, shl(224, taskIndex))
                mstore(add(o, 4), resultHash)
                mstore8(add(o, 36), n)
                recoverAll(batch, digest, add(p, 37), n, add(o, 37))
                mstore(add(batch, 0x220), add(outLen, add(37, n)))
                mstore(add(batch, 0x160), add(mload(add(batch, 0x160)), 1))
                mstore(add(batch, 0x180), add(mload(add(batch, 0x180)), n))
                mstore(add(batch, 0x240), taskIndex)
                mstore(add(batch, 0x260), resultHash)
            }

            // Settles the record at calldata `p` unless its task is settled already. Records
            // begin at `start` (offsets in errors count from there) and end at `end`.
            function step(batch, start, p, end) -> after, did {
                // MalformedTasks(bytes32,uint256): a record cut short.
                if lt(sub(end, p), 37) { fail2(0xe197dadb, mload(batch), sub(p, start)) }
                let taskIndex := shr(224, calldataload(p))
                let n := byte(0, calldataload(add(p, 36)))
                after := add(add(p, 37), shl(6, n))
                if gt(after, end) { fail2(0xe197dadb, mload(batch), sub(p, start)) }
                // TaskOutOfRange(bytes32,uint32,uint32)
                if iszero(lt(taskIndex, mload(add(batch, 0x40)))) {
                    let mem := mload(0x40)
                    mstore(mem, shl(224, 0x85f80bf6))
                    mstore(add(mem, 4), mload(batch))
                    mstore(add(mem, 0x24), taskIndex)
                    mstore(add(mem, 0x44), mload(add(batch, 0x40)))
                    revert(mem, 0x64)
                }
                let word := wordFor(batch, taskIndex)
                let bit := shl(and(taskIndex, 255), 1)
                if iszero(and(word, bit)) {
                    settleTask(batch, p, taskIndex, n)
                    mstore(add(batch, 0x140), or(word, bit))
                    did := 1
                }
            }

            let start := data.offset
            let end := add(start, data.length)
            let p := add(start, off)
            for {} and(lt(p, end), lt(settled, max)) {} {
                let did := 0
                p, did := step(b, start, p, end)
                settled := add(settled, did)
            }
            next := sub(p, start)
        }
    }

    /// @dev Writes what `b` owes: the settled bits in hand, the job's books, the signers' pay.
    function _flush(Job storage job, Batch memory b) private {
        if (b.wordIndex != NO_WORD) {
            _settled[b.jobId][b.wordIndex] = b.word;
            b.wordIndex = NO_WORD;
        }
        if (b.tasks == 0) return;
        // As in _settleOne: cannot underflow (each task pays at most `replicas` rewards, once) or
        // truncate (results <= tasks × 255, tasks < 2^32).
        unchecked {
            // forge-lint: disable-next-line(unsafe-typecast)
            job.remaining -= uint128(b.results * b.reward);
            // forge-lint: disable-next-line(unsafe-typecast)
            job.settledCount += uint32(b.tasks);
        }
        b.tasks = 0;
        b.results = 0;
        for (uint256 k = 0; k < b.signerCount; ++k) {
            uint256 owed = b.owed[k];
            if (owed == 0) continue;
            b.owed[k] = 0;
            Account memory a = _accounts[b.signers[k]];
            // Bounded by the job's escrow, which fits in uint128.
            // forge-lint: disable-next-line(unsafe-typecast)
            a.balance += uint128(owed * b.reward);
            // forge-lint: disable-next-line(unsafe-typecast)
            a.settledResults += uint64(owed);
            _accounts[b.signers[k]] = a;
        }
    }

    /// @dev After every state change of the settlement. The settler must leave the callback its
    /// gas (else it could make it fail on purpose); a callback that fails is reported, not fatal.
    function _callback(address requester, bytes32 jobId, uint32 taskIndex, bytes32 resultHash) private {
        if (gasleft() < (CALLBACK_GAS * 64) / 63 + 5_000) revert NotEnoughGasForCallback(gasleft());
        try IJobCallback(requester).onTaskSettled{gas: CALLBACK_GAS}(jobId, taskIndex, resultHash) {}
        catch {
            emit CallbackFailed(jobId, taskIndex);
        }
    }

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
            address signer = ECDSA.recover(digest, a.signature);
            if (signer != a.worker) revert BadPayoutSignature(a.worker, signer);
            current.payout = a.payout;
            current.nonce = a.nonce;
            emit PayoutSet(a.worker, a.payout, a.nonce);
            ++set;
        }
    }

    /// @notice After the deadline, returns the unspent escrow to the requester. Anyone may call.
    function refund(bytes32 jobId) external nonReentrant returns (uint256 amount) {
        Job storage job = _jobs[jobId];
        if (job.requester == address(0)) revert UnknownJob(jobId);
        if (block.timestamp <= job.deadline) revert NotExpired(jobId, job.deadline);
        if (job.refunded) revert AlreadyRefunded(jobId);
        amount = job.remaining;
        job.refunded = true;
        job.remaining = 0;
        emit Refunded(jobId, job.requester, amount);
        (bool ok,) = job.requester.call{value: amount}("");
        if (!ok) revert TransferFailed(job.requester, amount);
    }

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
        // Bounded by the ether supply, far below 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        s.active += uint128(msg.value);
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
    function slash(bytes32 jobId, uint32 taskIndex, bytes32 hashA, bytes calldata sigA, bytes32 hashB, bytes calldata sigB)
        external
        returns (uint256 amount)
    {
        if (_jobs[jobId].requester == address(0)) revert UnknownJob(jobId);
        if (hashA == hashB) revert SameResult(hashA);
        address a = ECDSA.recover(_resultDigest(jobId, taskIndex, hashA), sigA);
        address b = ECDSA.recover(_resultDigest(jobId, taskIndex, hashB), sigB);
        if (a != b) revert NotEquivocation(a, b);
        Stake storage s = _stakes[a];
        amount = uint256(s.active) + s.unstaking;
        if (amount == 0) revert NothingToSlash(a);
        s.active = 0;
        s.unstaking = 0;
        uint256 reward = amount / 2;
        // forge-lint: disable-next-line(unsafe-typecast)
        _accounts[msg.sender].balance += uint128(reward);
        _accounts[a].slashes += 1;
        burned += amount - reward;
        emit Slashed(a, jobId, taskIndex, amount, msg.sender, reward);
    }

    /// @notice Credited and not yet withdrawn.
    function balanceOf(address worker) external view returns (uint256) {
        return _accounts[worker].balance;
    }

    /// @notice A worker's pay, settled results and slashes.
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

    /// @notice The stored job; `requester == address(0)` means no such job.
    function getJob(bytes32 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    function isSettled(bytes32 jobId, uint32 taskIndex) external view returns (bool) {
        // forge-lint: disable-next-line(incorrect-shift)
        return _settled[jobId][taskIndex >> 8] & (1 << (taskIndex & 255)) != 0;
    }

    /// @notice The EIP-712 domain separator that result signatures are made under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {JobEscrow} from "../src/JobEscrow.sol";
import {MeshworkRequests} from "../src/MeshworkRequests.sol";
import {ExampleConsumer} from "../src/examples/ExampleConsumer.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";
import {RefundlessConsumer, RefundlessRequester} from "./RefundHelpers.sol";

/// @dev Drives random sequences over JobEscrow and MeshworkRequests: jobs and requests opened
/// (by accounts and consumers that take ether, and by contracts that cannot), claims redeemed
/// (signed by the coordinator the handler holds, sometimes more than the escrow holds, or by
/// outsiders' fresh keys; sometimes again), results recorded (by the coordinator's signature or
/// an outsider's, with fees to the sender or to a named recorder), refunds (through
/// MeshworkRequests, or by anyone straight on the escrow) and credited refunds withdrawn, stake,
/// unstake, slash, withdraw, payouts and time. It keeps its own books: what the coordinator signed
/// per (job, worker), what each job paid out, and a model of which claims must succeed.
contract EscrowHandler is JobEscrowBase {
    MeshworkRequests public meshwork;
    ExampleConsumer public consumer;
    /// A consumer and a requester without receive(): their refunds are credited, then withdrawn.
    RefundlessConsumer public refundlessConsumer;
    RefundlessRequester public refundlessRequester;
    /// Where the refundless contracts send their credited refunds.
    address public constant REFUND_SINK = address(0x5111C);
    /// The consumer of each request's job, and the requester of each plain job.
    mapping(bytes32 => address) public ownerOf;

    bytes32[] public jobs;
    mapping(bytes32 => uint256) public requestIdPlusOne;
    mapping(bytes32 => uint256) public deposited;
    mapping(bytes32 => uint256) public refundedOf;
    mapping(bytes32 => mapping(address => uint256)) public paid;
    mapping(bytes32 => mapping(address => uint32)) public maxSigned;
    /// Calls whose outcome disagreed with the model, and moves of value by outsiders.
    uint256 public surprises;
    uint256 public outsiderWins;
    /// Calls that moved something, per kind (to see that the runs reach every path).
    mapping(bytes32 => uint256) public hits;

    uint256[3] internal outsiderKeys = [uint256(0xA11CE), 0xB0B, 0xE7E];
    address[3] internal relayers = [address(0x7E1A), address(0x7E1B), address(0x7E1C)];

    constructor(JobEscrow e, MeshworkRequests m, uint256 coordKey) {
        escrow = e;
        meshwork = m;
        coordinatorKey = coordKey;
        coordinator = vm.addr(coordKey);
        consumer = new ExampleConsumer(m, keccak256("model"), bytes32("exact"));
        refundlessConsumer = new RefundlessConsumer(m);
        refundlessRequester = new RefundlessRequester();
        vm.deal(requester, type(uint128).max);
        vm.deal(address(this), type(uint128).max);
        for (uint256 i = 1; i <= 8; ++i) {
            workerKeys.push(uint256(keccak256(abi.encode("worker", i))));
        }
    }

    // ---- jobs ------------------------------------------------------------------------------

    /// A plain job, opened by the requester account, or (`byContract`, one in four) by a contract
    /// without receive().
    function create(uint8 tasks, uint8 replicas, uint8 quorum, bool withFee, uint8 minStakeEth) external {
        JobEscrow.JobParams memory p = params(uint32(bound(tasks, 1, 20)), 1, 1);
        p.replicas = uint8(bound(replicas, 1, 5));
        p.quorum = uint8(bound(quorum, 1, p.replicas));
        p.feePerTask = withFee ? FEE : 0;
        p.minStake = minStakeEth % 3 == 0 ? 1 ether : 0;
        bool byContract = minStakeEth % 4 == 1;
        bytes32 id = byContract ? refundlessRequester.open{value: escrowOf(p)}(escrow, p) : open(p);
        jobs.push(id);
        ownerOf[id] = byContract ? address(refundlessRequester) : requester;
        deposited[id] = escrowOf(p);
    }

    /// A consumer contract asks MeshworkRequests (two volunteers, the default coordinator): one
    /// that takes refunds, or (`refundless`) one without receive().
    function request(uint16 perResult, bool refundless) external {
        uint256 payment = 2 * bound(perResult, 1, 1000) * 1e12;
        uint256 rid = refundless
            ? refundlessConsumer.ask{value: payment}(hex"a16178")
            : consumer.ask{value: payment}(hex"a16178");
        bytes32 id = meshwork.getRequest(rid).jobId;
        jobs.push(id);
        requestIdPlusOne[id] = rid + 1;
        ownerOf[id] = refundless ? address(refundlessConsumer) : address(consumer);
        deposited[id] = payment;
    }

    function _job(uint256 seed) internal view returns (bytes32 id, JobEscrow.Job memory j) {
        id = jobs[seed % jobs.length];
        j = escrow.getJob(id);
    }

    // ---- claims ----------------------------------------------------------------------------

    /// The coordinator signs a claim (maybe past what the escrow holds) and anyone redeems it.
    function redeem(uint256 jobSeed, uint8 who, uint32 results) external {
        if (jobs.length == 0) return;
        (bytes32 id, JobEscrow.Job memory j) = _job(jobSeed);
        address w = worker(bound(who, 0, 7));
        results = uint32(bound(results, 0, uint256(j.taskCount) * j.replicas + 2));
        (Outcome expected, uint256 owed) = _expected(id, j, w, results);
        uint256 before = escrow.balanceOf(w);
        try escrow.redeem(one(claim(id, w, results))) returns (uint256 amount) {
            if (expected == Outcome.Refused || amount != owed) ++surprises;
            ++hits[expected == Outcome.Skipped ? bytes32("redeem skipped") : bytes32("redeem")];
            if (results > maxSigned[id][w]) maxSigned[id][w] = results;
            paid[id][w] += amount;
            if (escrow.balanceOf(w) != before + amount) ++surprises;
        } catch {
            if (expected != Outcome.Refused) ++surprises;
            ++hits["redeem refused"];
        }
    }

    /// Two workers' claims in one call: both paid (or skipped), or neither.
    function redeemTwo(uint256 jobSeed, uint8 a, uint8 b, uint32 ra, uint32 rb) external {
        if (jobs.length == 0) return;
        (bytes32 id, JobEscrow.Job memory j) = _job(jobSeed);
        address wa = worker(bound(a, 0, 7));
        address wb = worker(bound(b, 0, 7));
        if (wa == wb) return;
        uint256 max = uint256(j.taskCount) * j.replicas;
        ra = uint32(bound(ra, 0, max));
        rb = uint32(bound(rb, 0, max));
        (Outcome ea, uint256 oa) = _expected(id, j, wa, ra);
        (Outcome eb, uint256 ob) = _expected(id, j, wb, rb);
        bool ok = ea != Outcome.Refused && eb != Outcome.Refused && oa + ob <= j.remaining;
        _redeemTwo(id, wa, ra, wb, rb, ok ? oa + ob : type(uint256).max);
    }

    /// `owed`: what the model says the pair pays; type(uint256).max: that it reverts.
    function _redeemTwo(bytes32 id, address wa, uint32 ra, address wb, uint32 rb, uint256 owed) internal {
        uint256 beforeA = escrow.balanceOf(wa);
        uint256 beforeB = escrow.balanceOf(wb);
        try escrow.redeem(two(claim(id, wa, ra), claim(id, wb, rb))) returns (uint256 amount) {
            uint256 gotA = escrow.balanceOf(wa) - beforeA;
            uint256 gotB = escrow.balanceOf(wb) - beforeB;
            paid[id][wa] += gotA;
            paid[id][wb] += gotB;
            if (gotA + gotB != amount || amount != owed) ++surprises;
            if (ra > maxSigned[id][wa]) maxSigned[id][wa] = ra;
            if (rb > maxSigned[id][wb]) maxSigned[id][wb] = rb;
            ++hits["redeem two"];
        } catch {
            if (owed != type(uint256).max) ++surprises;
        }
    }

    /// An outsider signs claims with its own fresh key, for itself or a worker.
    function forgeClaim(uint256 jobSeed, uint8 key, bool forWorker, uint32 results) external {
        if (jobs.length == 0) return;
        (bytes32 id, JobEscrow.Job memory j) = _job(jobSeed);
        uint256 k = outsiderKeys[key % 3];
        address to = forWorker ? worker(key % 8) : vm.addr(k);
        results = uint32(bound(results, 1, uint256(j.taskCount) * j.replicas));
        vm.prank(vm.addr(k));
        try escrow.redeem(one(claimBy(k, id, to, results))) {
            ++outsiderWins;
        } catch {}
    }

    enum Outcome {
        Refused,
        Skipped,
        Paid
    }

    /// The model of one claim: refused (the call reverts), skipped (exactly what was paid: 0, no
    /// revert) or paid (`owed`).
    function _expected(bytes32 id, JobEscrow.Job memory j, address w, uint32 results)
        internal
        view
        returns (Outcome, uint256 owed)
    {
        if (j.refunded || block.timestamp > uint256(j.deadline) + escrow.CLAIM_WINDOW()) {
            return (Outcome.Refused, 0);
        }
        if (results > uint256(j.taskCount) * j.replicas) return (Outcome.Refused, 0);
        uint32 redeemed = escrow.redeemedOf(id, w);
        if (results < redeemed) return (Outcome.Refused, 0);
        if (results == redeemed) return (Outcome.Skipped, 0);
        if (escrow.stakeOf(w).active < j.minStake) return (Outcome.Refused, 0);
        owed = uint256(results - redeemed) * j.rewardPerResult;
        return owed <= j.remaining ? (Outcome.Paid, owed) : (Outcome.Refused, 0);
    }

    // ---- records ---------------------------------------------------------------------------

    /// One record call as the handler sends it.
    struct RecordCase {
        bytes32 id;
        bytes tasks;
        bytes sig;
        address sender;
        address recorder;
        uint256 expected; // tasks it should newly record
        uint256 fee;
        bool outsider;
        bool open;
    }

    /// Two records (maybe of one task), signed by the coordinator or an outsider, sent by a
    /// relayer; the fees go to the sender, or (`named`) to the next relayer, named in the signature.
    function record(uint256 jobSeed, uint32 taskA, uint32 taskB, uint8 by, bool outsider, bool named) external {
        if (jobs.length == 0) return;
        RecordCase memory rc;
        JobEscrow.Job memory j;
        (rc.id, j) = _job(jobSeed);
        taskA = uint32(bound(taskA, 0, j.taskCount - 1));
        taskB = uint32(bound(taskB, 0, j.taskCount - 1));
        rc.tasks = bytes.concat(rec(taskA, keccak256(abi.encode(taskA))), rec(taskB, keccak256("b")));
        uint256 k = outsiderKeys[by % 3];
        rc.outsider = outsider;
        rc.sender = outsider ? vm.addr(k) : relayers[by % 3];
        rc.recorder = named ? relayers[(uint256(by) + 1) % 3] : address(0);
        rc.sig = signRecordFor(outsider ? k : coordinatorKey, rc.id, rc.tasks, rc.recorder);
        rc.expected =
            (escrow.isRecorded(rc.id, taskA) ? 0 : 1) + (escrow.isRecorded(rc.id, taskB) || taskB == taskA ? 0 : 1);
        rc.open = !j.refunded && block.timestamp <= uint256(j.deadline) + escrow.CLAIM_WINDOW();
        rc.fee = j.feePerTask;
        _record(rc);
    }

    function _record(RecordCase memory rc) internal {
        bool named = rc.recorder != address(0);
        address payee = named ? rc.recorder : rc.sender;
        uint256 before = escrow.balanceOf(payee);
        uint256 senderBefore = escrow.balanceOf(rc.sender);
        vm.prank(rc.sender);
        try escrow.record(rc.id, rc.tasks, rc.recorder, rc.sig) returns (uint256 n) {
            if (rc.outsider) ++outsiderWins;
            if (n != rc.expected || !rc.open) ++surprises;
            if (escrow.balanceOf(payee) != before + n * rc.fee) ++surprises;
            if (named && escrow.balanceOf(rc.sender) != senderBefore) ++surprises;
            if (n > 0) ++hits[requestIdPlusOne[rc.id] != 0 ? bytes32("record request") : bytes32("record")];
            if (n > 0 && named) ++hits["record named"];
        } catch {
            if (!rc.outsider && rc.open) ++surprises;
        }
    }

    // ---- refunds ---------------------------------------------------------------------------

    /// A refund by anyone: through MeshworkRequests for a request, or straight on the escrow.
    /// Whoever the job's owner is, all of the refund is the owner's: sent to it, or credited to it.
    function refund(uint256 jobSeed, bool direct, uint8 caller) external {
        if (jobs.length == 0) return;
        (bytes32 id, JobEscrow.Job memory j) = _job(jobSeed);
        uint256 rid = requestIdPlusOne[id];
        uint256 expected = uint256(j.remaining) + j.feesLeft;
        address owner = ownerOf[id];
        if (rid != 0 && !direct) {
            uint256 before = owner.balance + meshwork.refundsOf(owner);
            try meshwork.refund(rid - 1) returns (uint256 amount) {
                uint256 got = owner.balance + meshwork.refundsOf(owner) - before;
                refundedOf[id] += got;
                ++hits[owner == address(consumer) ? bytes32("request refund") : bytes32("request refund credited")];
                if (got != expected || amount != expected) ++surprises;
            } catch {}
            return;
        }
        uint256 had = owner.balance + escrow.refundsOf(owner);
        vm.prank(caller % 2 == 0 ? requester : worker(caller % 8));
        try escrow.refund(id) returns (uint256 amount) {
            // No one but MeshworkRequests refunds a request's job.
            if (rid != 0 || amount != expected) ++surprises;
            if (owner.balance + escrow.refundsOf(owner) - had != amount) ++surprises;
            refundedOf[id] += amount;
            ++hits[owner == requester ? bytes32("refund") : bytes32("refund credited")];
        } catch {}
    }

    /// The contracts without receive() withdraw their credited refunds to REFUND_SINK.
    function withdrawRefund(bool fromMeshwork) external {
        if (fromMeshwork) {
            uint256 held = meshwork.refundsOf(address(refundlessConsumer));
            if (held == 0) return;
            if (refundlessConsumer.withdrawRefund(payable(REFUND_SINK)) != held) ++surprises;
        } else {
            uint256 held = escrow.refundsOf(address(refundlessRequester));
            if (held == 0) return;
            if (refundlessRequester.withdrawRefund(escrow, payable(REFUND_SINK)) != held) ++surprises;
        }
        ++hits["refund withdrawn"];
    }

    // ---- stake, slash, payouts ---------------------------------------------------------------

    /// The worker stakes, or (`backed`) another address stakes for it.
    function stake(uint8 who, uint96 amount, bool backed) external {
        address w = worker(bound(who, 0, 7));
        amount = uint96(bound(amount, 1, 3 ether));
        address from = backed ? address(0xBAC4E2) : w;
        vm.deal(from, amount);
        vm.prank(from);
        if (backed) escrow.stakeFor{value: amount}(w);
        else escrow.stake{value: amount}();
    }

    function requestUnstake(uint8 who, uint96 amount) external {
        address w = worker(bound(who, 0, 7));
        uint128 active = escrow.stakeOf(w).active;
        if (active == 0) return;
        vm.prank(w);
        escrow.requestUnstake(uint128(bound(amount, 1, active)));
    }

    function withdrawStake(uint8 who) external {
        address w = worker(bound(who, 0, 7));
        JobEscrow.Stake memory s = escrow.stakeOf(w);
        if (s.unstaking == 0 || block.timestamp < s.unlockAt) return;
        escrow.withdrawStake(w);
    }

    /// Worker `who` signs two results for one task; worker `by` reports it.
    function slash(uint8 who, uint8 by, uint256 jobSeed) external {
        if (jobs.length == 0) return;
        uint256 i = bound(who, 0, 7);
        address w = worker(i);
        JobEscrow.Stake memory s = escrow.stakeOf(w);
        if (s.active + s.unstaking == 0) return;
        bytes32 id = jobs[jobSeed % jobs.length];
        bytes memory a = sign(workerKeys[i], id, 0, keccak256("a"));
        bytes memory b = sign(workerKeys[i], id, 0, keccak256("b"));
        vm.prank(worker(bound(by, 0, 7)));
        escrow.slash(id, 0, keccak256("a"), a, keccak256("b"), b);
        ++hits["slash"];
    }

    /// Pays out a worker or relayer (to MeshworkRequests, for a worker that pointed its pay there).
    function withdraw(uint8 who) external {
        address w = who % 4 == 3 ? relayers[who % 3] : worker(who % 8);
        if (escrow.balanceOf(w) == 0) return;
        try escrow.withdraw(payable(w)) {
            ++hits["withdraw"];
        } catch {
            ++hits["withdraw refused"];
        }
    }

    /// A worker points its pay at MeshworkRequests, which must refuse it.
    function payToMeshwork(uint8 who, uint64 nonce) external {
        uint256 i = who % 8;
        if (escrow.payoutOf(worker(i)).nonce == type(uint64).max) return;
        nonce = uint64(bound(nonce, escrow.payoutOf(worker(i)).nonce + 1, type(uint64).max));
        JobEscrow.PayoutAuth[] memory auths = new JobEscrow.PayoutAuth[](1);
        auths[0] = JobEscrow.PayoutAuth(worker(i), address(meshwork), nonce, "");
        auths[0].signature = signDigest(
            workerKeys[i], digest(keccak256(abi.encode(escrow.PAYOUT_TYPEHASH(), worker(i), address(meshwork), nonce)))
        );
        escrow.setPayouts(auths);
    }

    function warp(uint32 secs) external {
        vm.warp(block.timestamp + bound(secs, 0, 1 days));
    }

    // ---- books -----------------------------------------------------------------------------

    function jobCount() external view returns (uint256) {
        return jobs.length;
    }

    function heldForJobs() external view returns (uint256 sum) {
        for (uint256 i = 0; i < jobs.length; ++i) {
            JobEscrow.Job memory j = escrow.getJob(jobs[i]);
            sum += uint256(j.remaining) + j.feesLeft;
        }
    }

    function credited() external view returns (uint256 sum) {
        for (uint256 i = 0; i < 8; ++i) {
            sum += escrow.balanceOf(worker(i));
        }
        for (uint256 i = 0; i < 3; ++i) {
            sum += escrow.balanceOf(relayers[i]) + escrow.balanceOf(vm.addr(outsiderKeys[i]));
        }
    }

    /// Refunds credited and not withdrawn, on the escrow (to requesters) and on MeshworkRequests
    /// (to consumers): all of them to the refundless contracts, which can withdraw them.
    function escrowRefundsHeld() external view returns (uint256) {
        return escrow.refundsOf(address(refundlessRequester)) + escrow.refundsOf(requester)
            + escrow.refundsOf(address(meshwork));
    }

    function meshworkRefundsHeld() external view returns (uint256) {
        return meshwork.refundsOf(address(refundlessConsumer)) + meshwork.refundsOf(address(consumer));
    }

    function outsidersCredited() external view returns (uint256 sum) {
        for (uint256 i = 0; i < 3; ++i) {
            sum += escrow.balanceOf(vm.addr(outsiderKeys[i]));
        }
    }

    function stakesHeld() external view returns (uint256 sum) {
        for (uint256 i = 0; i < 8; ++i) {
            JobEscrow.Stake memory s = escrow.stakeOf(worker(i));
            sum += uint256(s.active) + s.unstaking;
        }
    }

    function workerAddr(uint256 i) external view returns (address) {
        return worker(i);
    }
}

/// @dev The deployment and the handler, shared by the invariant campaign and the reach test.
abstract contract EscrowInvariantSetup is JobEscrowBase {
    EscrowHandler internal handler;
    MeshworkRequests internal meshwork;

    function setUp() public override {
        super.setUp();
        meshwork = new MeshworkRequests(escrow, coordinator);
        handler = new EscrowHandler(escrow, meshwork, coordinatorKey);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](16);
        selectors[0] = EscrowHandler.create.selector;
        selectors[1] = EscrowHandler.request.selector;
        selectors[2] = EscrowHandler.redeem.selector;
        selectors[3] = EscrowHandler.redeemTwo.selector;
        selectors[4] = EscrowHandler.forgeClaim.selector;
        selectors[5] = EscrowHandler.record.selector;
        selectors[6] = EscrowHandler.refund.selector;
        selectors[7] = EscrowHandler.stake.selector;
        selectors[8] = EscrowHandler.requestUnstake.selector;
        selectors[9] = EscrowHandler.withdrawStake.selector;
        selectors[10] = EscrowHandler.slash.selector;
        selectors[11] = EscrowHandler.withdraw.selector;
        selectors[12] = EscrowHandler.payToMeshwork.selector;
        selectors[13] = EscrowHandler.warp.selector;
        selectors[14] = EscrowHandler.redeem.selector; // claims twice as often
        selectors[15] = EscrowHandler.withdrawRefund.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Every wei JobEscrow holds is owed to someone who can withdraw it: credited accounts,
    /// escrow of open jobs (rewards and fees), stake, refunds credited to requesters that took
    /// none, and what slashing burned. MeshworkRequests holds exactly the refunds credited to
    /// consumers that took none. Only contracts without receive() are ever credited a refund
    /// (MeshworkRequests never is: the escrow's refunds to it always arrive), and each can
    /// withdraw it (the handler's withdrawRefund does).
    function checkEveryWeiIsOwed() internal view {
        assertEq(
            address(escrow).balance,
            handler.credited() + handler.heldForJobs() + handler.stakesHeld() + handler.escrowRefundsHeld()
                + escrow.burned()
        );
        assertEq(address(meshwork).balance, handler.meshworkRefundsHeld());
        assertEq(escrow.refundsOf(requester), 0);
        assertEq(escrow.refundsOf(address(meshwork)), 0);
        assertEq(meshwork.refundsOf(address(handler.consumer())), 0);
    }

    /// Per job: what came in = paid to workers + fees earned + still held + refunded.
    function checkEachJobBalances() internal view {
        for (uint256 i = 0; i < handler.jobCount(); ++i) {
            bytes32 id = handler.jobs(i);
            JobEscrow.Job memory j = escrow.getJob(id);
            uint256 out =
                uint256(j.remaining) + j.feesLeft + uint256(j.recordedCount) * j.feePerTask + handler.refundedOf(id);
            for (uint256 k = 0; k < 8; ++k) {
                out += handler.paid(id, handler.workerAddr(k));
            }
            assertEq(out, handler.deposited(id));
        }
    }

    /// No (job, worker) is ever paid more than its largest signed claim × reward, and what it was
    /// paid is exactly its redeemed results × reward; each worker's record sums them.
    function checkNoWorkerPaidMoreThanClaimed() internal view {
        uint256[8] memory results;
        for (uint256 i = 0; i < handler.jobCount(); ++i) {
            bytes32 id = handler.jobs(i);
            uint256 reward = escrow.getJob(id).rewardPerResult;
            for (uint256 k = 0; k < 8; ++k) {
                address w = handler.workerAddr(k);
                uint32 redeemed = escrow.redeemedOf(id, w);
                assertLe(redeemed, handler.maxSigned(id, w));
                assertEq(handler.paid(id, w), uint256(redeemed) * reward);
                results[k] += redeemed;
            }
        }
        for (uint256 k = 0; k < 8; ++k) {
            assertEq(escrow.accountOf(handler.workerAddr(k)).settledResults, results[k]);
        }
    }

    /// Outsiders' keys never move anything, and every call went as the model said.
    function checkOutsidersGetNothing_andTheModelHolds() internal view {
        assertEq(handler.outsiderWins(), 0);
        assertEq(handler.outsidersCredited(), 0);
        assertEq(handler.surprises(), 0);
    }
}

/// @dev 250 runs of 32 calls each (not foundry.toml's 1,000): every call here signs and checks
/// several books, and 1,000 runs took three minutes on two cores. The reach test below shows the
/// handler reaches every path.
contract JobEscrowInvariantTest is EscrowInvariantSetup {
    /// Every wei either contract holds is owed to someone who can withdraw it, job by job.
    /// forge-config: default.invariant.runs = 250
    function invariant_everyWeiIsOwed() public view {
        checkEveryWeiIsOwed();
        checkEachJobBalances();
    }

    /// No (job, worker) is paid more than its claims; outsiders' keys move nothing.
    /// forge-config: default.invariant.runs = 250
    function invariant_nobodyPaidMoreThanClaimed() public view {
        checkNoWorkerPaidMoreThanClaimed();
        checkOutsidersGetNothing_andTheModelHolds();
    }
}

/// @dev The handler is not vacuous: a long random walk through it reaches every path that moves
/// value (and the invariants hold at its end).
contract JobEscrowHandlerReachTest is EscrowInvariantSetup {
    function test_handler_reachesEveryPath() public {
        for (uint256 i = 0; i < 600; ++i) {
            uint256 r = uint256(keccak256(abi.encode("walk", i)));
            uint256 kind = r % 16;
            uint8 a = uint8(r >> 8);
            uint8 b = uint8(r >> 16);
            uint32 c = uint32(r >> 24);
            uint32 d = uint32(r >> 56);
            if (kind == 0 || (i < 4)) handler.create(a, b, uint8(c), d % 2 == 0, b);
            else if (kind == 1) handler.request(uint16(c), d % 3 == 0);
            else if (kind <= 4) handler.redeem(r >> 88, a, c % 12);
            else if (kind == 5) handler.redeemTwo(r >> 88, a, b, c % 8, d % 8);
            else if (kind == 6) handler.forgeClaim(r >> 88, a, b % 2 == 0, c);
            else if (kind <= 8) handler.record(r >> 88, c, d, a, b % 5 == 0, b % 3 == 0);
            else if (kind == 9) handler.refund(r >> 88, a % 3 == 0, b);
            else if (kind == 15 && b % 2 == 0) handler.withdrawRefund(a % 2 == 0);
            else if (kind == 10) handler.stake(a, uint96(c) * 1e9, b % 2 == 0);
            else if (kind == 11) handler.slash(a, b, r >> 88);
            else if (kind == 12) handler.withdraw(a);
            else if (kind == 13) handler.payToMeshwork(a, uint64(c));
            else handler.warp(uint32(c % 30_000));
        }
        bytes32[15] memory paths = [
            bytes32("redeem"),
            "redeem refused",
            "redeem skipped",
            "redeem two",
            "record",
            "record request",
            "record named",
            "refund",
            "refund credited",
            "request refund",
            "request refund credited",
            "refund withdrawn",
            "withdraw",
            "withdraw refused",
            "slash"
        ];
        for (uint256 i = 0; i < paths.length; ++i) {
            assertGt(handler.hits(paths[i]), 0, string(abi.encodePacked(paths[i])));
        }
        checkEveryWeiIsOwed();
        checkEachJobBalances();
        checkNoWorkerPaidMoreThanClaimed();
        checkOutsidersGetNothing_andTheModelHolds();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {JobEscrow} from "../src/JobEscrow.sol";
import {MeshworkRequests} from "../src/MeshworkRequests.sol";
import {ExampleConsumer} from "../src/examples/ExampleConsumer.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

/// @dev Drives random sequences over JobEscrow and MeshworkRequests: jobs and requests opened,
/// claims redeemed (signed by the coordinator the handler holds, sometimes more than the escrow
/// holds, or by outsiders' fresh keys), results recorded (by the coordinator's signature or an
/// outsider's), refunds (through MeshworkRequests, or by anyone straight on the escrow), stake,
/// unstake, slash, withdraw, payouts and time. It keeps its own books: what the coordinator signed
/// per (job, worker), what each job paid out, and a model of which claims must succeed.
contract EscrowHandler is JobEscrowBase {
    MeshworkRequests public meshwork;
    ExampleConsumer public consumer;

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
        vm.deal(requester, type(uint128).max);
        vm.deal(address(this), type(uint128).max);
        for (uint256 i = 1; i <= 8; ++i) {
            workerKeys.push(uint256(keccak256(abi.encode("worker", i))));
        }
    }

    // ---- jobs ------------------------------------------------------------------------------

    function create(uint8 tasks, uint8 replicas, uint8 quorum, bool withFee, uint8 minStakeEth) external {
        JobEscrow.JobParams memory p = params(uint32(bound(tasks, 1, 20)), 1, 1);
        p.replicas = uint8(bound(replicas, 1, 5));
        p.quorum = uint8(bound(quorum, 1, p.replicas));
        p.feePerTask = withFee ? FEE : 0;
        p.minStake = minStakeEth % 3 == 0 ? 1 ether : 0;
        bytes32 id = open(p);
        jobs.push(id);
        deposited[id] = escrowOf(p);
    }

    /// A consumer contract asks MeshworkRequests (two volunteers, the default coordinator).
    function request(uint16 perResult) external {
        uint256 payment = 2 * bound(perResult, 1, 1000) * 1e12;
        uint256 rid = consumer.ask{value: payment}(hex"a16178");
        bytes32 id = meshwork.getRequest(rid).jobId;
        jobs.push(id);
        requestIdPlusOne[id] = rid + 1;
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
        bool ok = _shouldPay(id, j, w, results);
        uint256 before = escrow.balanceOf(w);
        try escrow.redeem(one(claim(id, w, results))) returns (uint256 amount) {
            if (!ok) ++surprises;
            ++hits["redeem"];
            if (results > maxSigned[id][w]) maxSigned[id][w] = results;
            paid[id][w] += amount;
            if (escrow.balanceOf(w) != before + amount) ++surprises;
        } catch {
            if (ok) ++surprises;
            ++hits["redeem refused"];
        }
    }

    /// Two workers' claims in one call: all or nothing.
    function redeemTwo(uint256 jobSeed, uint8 a, uint8 b, uint32 ra, uint32 rb) external {
        if (jobs.length == 0) return;
        (bytes32 id, JobEscrow.Job memory j) = _job(jobSeed);
        address wa = worker(bound(a, 0, 7));
        address wb = worker(bound(b, 0, 7));
        if (wa == wb) return;
        uint256 max = uint256(j.taskCount) * j.replicas;
        ra = uint32(bound(ra, 0, max));
        rb = uint32(bound(rb, 0, max));
        uint256 beforeA = escrow.balanceOf(wa);
        uint256 beforeB = escrow.balanceOf(wb);
        try escrow.redeem(two(claim(id, wa, ra), claim(id, wb, rb))) returns (uint256 amount) {
            paid[id][wa] += escrow.balanceOf(wa) - beforeA;
            paid[id][wb] += escrow.balanceOf(wb) - beforeB;
            if (escrow.balanceOf(wa) - beforeA + escrow.balanceOf(wb) - beforeB != amount) ++surprises;
            if (ra > maxSigned[id][wa]) maxSigned[id][wa] = ra;
            if (rb > maxSigned[id][wb]) maxSigned[id][wb] = rb;
            ++hits["redeem two"];
        } catch {}
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

    function _shouldPay(bytes32 id, JobEscrow.Job memory j, address w, uint32 results) internal view returns (bool) {
        if (j.refunded || block.timestamp > uint256(j.deadline) + escrow.CLAIM_WINDOW()) return false;
        if (results > uint256(j.taskCount) * j.replicas) return false;
        uint32 redeemed = escrow.redeemedOf(id, w);
        if (results <= redeemed) return false;
        if (escrow.stakeOf(w).active < j.minStake) return false;
        return uint256(results - redeemed) * j.rewardPerResult <= j.remaining;
    }

    // ---- records ---------------------------------------------------------------------------

    /// Two records (maybe of one task), signed by the coordinator or an outsider, sent by a relayer.
    function record(uint256 jobSeed, uint32 taskA, uint32 taskB, uint8 by, bool outsider) external {
        if (jobs.length == 0) return;
        (bytes32 id, JobEscrow.Job memory j) = _job(jobSeed);
        taskA = uint32(bound(taskA, 0, j.taskCount - 1));
        taskB = uint32(bound(taskB, 0, j.taskCount - 1));
        bytes memory tasks = bytes.concat(rec(taskA, keccak256(abi.encode(taskA))), rec(taskB, keccak256("b")));
        uint256 k = outsiderKeys[by % 3];
        bytes memory sig = outsider ? signRecordBy(k, id, tasks) : signRecord(id, tasks);
        uint256 expected =
            (escrow.isRecorded(id, taskA) ? 0 : 1) + (escrow.isRecorded(id, taskB) || taskB == taskA ? 0 : 1);
        bool open_ = !j.refunded && block.timestamp <= uint256(j.deadline) + escrow.CLAIM_WINDOW();
        vm.prank(outsider ? vm.addr(k) : relayers[by % 3]);
        try escrow.record(id, tasks, sig) returns (uint256 n) {
            if (outsider) ++outsiderWins;
            if (n != expected || !open_) ++surprises;
            if (n > 0) ++hits[requestIdPlusOne[id] != 0 ? bytes32("record request") : bytes32("record")];
        } catch {
            if (!outsider && open_) ++surprises;
        }
    }

    // ---- refunds ---------------------------------------------------------------------------

    /// A refund by anyone: through MeshworkRequests for a request, or straight on the escrow.
    function refund(uint256 jobSeed, bool direct, uint8 caller) external {
        if (jobs.length == 0) return;
        (bytes32 id, JobEscrow.Job memory j) = _job(jobSeed);
        uint256 rid = requestIdPlusOne[id];
        uint256 expected = uint256(j.remaining) + j.feesLeft;
        if (rid != 0 && !direct) {
            uint256 before = address(consumer).balance;
            try meshwork.refund(rid - 1) {
                refundedOf[id] += address(consumer).balance - before;
                ++hits["request refund"];
                if (address(consumer).balance - before != expected) ++surprises;
            } catch {}
            return;
        }
        vm.prank(caller % 2 == 0 ? requester : worker(caller % 8));
        try escrow.refund(id) returns (uint256 amount) {
            // No one but MeshworkRequests refunds a request's job.
            if (rid != 0 || amount != expected) ++surprises;
            refundedOf[id] += amount;
            ++hits["refund"];
        } catch {}
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
        bytes4[] memory selectors = new bytes4[](15);
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
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Every wei JobEscrow holds is owed to someone who can withdraw it: credited accounts,
    /// escrow of open jobs (rewards and fees), stake, and what slashing burned. MeshworkRequests
    /// holds nothing between calls.
    function checkEveryWeiIsOwed() internal view {
        assertEq(
            address(escrow).balance, handler.credited() + handler.heldForJobs() + handler.stakesHeld() + escrow.burned()
        );
        assertEq(address(meshwork).balance, 0);
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
            else if (kind == 1) handler.request(uint16(c));
            else if (kind <= 4) handler.redeem(r >> 88, a, c % 12);
            else if (kind == 5) handler.redeemTwo(r >> 88, a, b, c % 8, d % 8);
            else if (kind == 6) handler.forgeClaim(r >> 88, a, b % 2 == 0, c);
            else if (kind <= 8) handler.record(r >> 88, c, d, a, b % 5 == 0);
            else if (kind == 9) handler.refund(r >> 88, a % 3 == 0, b);
            else if (kind == 10) handler.stake(a, uint96(c) * 1e9, b % 2 == 0);
            else if (kind == 11) handler.slash(a, b, r >> 88);
            else if (kind == 12) handler.withdraw(a);
            else if (kind == 13) handler.payToMeshwork(a, uint64(c));
            else handler.warp(uint32(c % 30_000));
        }
        bytes32[10] memory paths = [
            bytes32("redeem"),
            "redeem refused",
            "redeem two",
            "record",
            "record request",
            "refund",
            "request refund",
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

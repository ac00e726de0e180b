// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobEscrow} from "../src/JobEscrow.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

/// @dev Drives random create / settle and settlePacked (by anyone, or by the requester below
/// quorum) / withdraw / refund / stake / unstake / slash / warp sequences and keeps its own books,
/// so the invariants can compare the contract's ether with what must still be inside it.
contract EscrowHandler is JobEscrowBase {
    bytes32[] public jobs;
    uint256 public escrowed;
    uint256 public withdrawn;
    uint256 public refunded;
    mapping(bytes32 => mapping(uint32 => bool)) public paid;
    uint256 public doublePays;
    uint256 public staked;
    uint256 public stakeWithdrawn;
    /// Signatures in settled certificates per worker, counted here and by the contract.
    mapping(address => uint256) public settledResults;

    constructor(JobEscrow e) {
        escrow = e;
        vm.deal(requester, type(uint128).max);
        for (uint256 i = 1; i <= 8; ++i) {
            workerKeys.push(uint256(keccak256(abi.encode("worker", i))));
        }
        for (uint256 i = 1; i < workerKeys.length; ++i) {
            for (uint256 j = i; j > 0 && vm.addr(workerKeys[j - 1]) > vm.addr(workerKeys[j]); --j) {
                (workerKeys[j - 1], workerKeys[j]) = (workerKeys[j], workerKeys[j - 1]);
            }
        }
    }

    function create(uint8 tasks, uint8 replicas, uint8 quorum) external {
        tasks = uint8(bound(tasks, 1, 20));
        replicas = uint8(bound(replicas, 1, 5));
        quorum = uint8(bound(quorum, 1, replicas));
        jobs.push(createJob(tasks, replicas, quorum));
        escrowed += uint256(tasks) * replicas * REWARD;
    }

    function settle(uint256 jobSeed, uint32 task, uint8 signers) external {
        if (jobs.length == 0) return;
        bytes32 id = jobs[jobSeed % jobs.length];
        JobEscrow.Job memory j = escrow.getJob(id);
        task = uint32(bound(task, 0, j.taskCount - 1));
        signers = uint8(bound(signers, j.quorum, j.replicas));
        bool was = escrow.isSettled(id, task);
        _settle(id, task, signers, false);
    }

    /// The requester accepts fewer agreeing results than the quorum (adaptive replication).
    function settleAsRequester(uint256 jobSeed, uint32 task, uint8 signers) external {
        if (jobs.length == 0) return;
        bytes32 id = jobs[jobSeed % jobs.length];
        JobEscrow.Job memory j = escrow.getJob(id);
        task = uint32(bound(task, 0, j.taskCount - 1));
        signers = uint8(bound(signers, 1, j.replicas));
        _settle(id, task, signers, true);
    }

    function _settle(bytes32 id, uint32 task, uint8 signers, bool asRequester) private {
        bool was = escrow.isSettled(id, task);
        JobEscrow.Certificate[] memory c = one(cert(id, task, keccak256(abi.encode(task)), signers));
        if (asRequester) vm.prank(requester);
        try escrow.settle(c) returns (uint256 n) {
            if (n == 1) {
                if (paid[id][task] || was) ++doublePays;
                paid[id][task] = true;
                for (uint256 i = 0; i < signers; ++i) {
                    ++settledResults[worker(i)];
                }
            }
        } catch {}
    }

    /// Two tasks (maybe the same one) in one packed entry.
    function settlePacked(uint256 jobSeed, uint32 taskA, uint32 taskB, uint8 signers, bool asRequester) external {
        if (jobs.length == 0) return;
        bytes32 id = jobs[jobSeed % jobs.length];
        JobEscrow.Job memory j = escrow.getJob(id);
        taskA = uint32(bound(taskA, 0, j.taskCount - 1));
        taskB = uint32(bound(taskB, 0, j.taskCount - 1));
        signers = uint8(bound(signers, 1, j.replicas));
        bool wasA = escrow.isSettled(id, taskA);
        bool wasB = escrow.isSettled(id, taskB);
        bytes memory tasks = bytes.concat(_record(id, taskA, signers), _record(id, taskB, signers));
        JobEscrow.JobTasks[] memory entry = new JobEscrow.JobTasks[](1);
        entry[0] = JobEscrow.JobTasks(id, tasks);
        if (asRequester) vm.prank(requester);
        try escrow.settlePacked(entry) returns (uint256 n) {
            uint256 expected = (wasA ? 0 : 1) + (wasB || taskB == taskA ? 0 : 1);
            if (n != expected) ++doublePays;
            if (!wasA) _paid(id, taskA, signers);
            if (!wasB && taskB != taskA) _paid(id, taskB, signers);
        } catch {}
    }

    function _record(bytes32 id, uint32 task, uint8 signers) private view returns (bytes memory b) {
        bytes32 result = keccak256(abi.encode(task));
        b = abi.encodePacked(task, result, signers);
        for (uint256 i = 0; i < signers; ++i) {
            b = bytes.concat(b, compact(sign(workerKeys[i], id, task, result)));
        }
    }

    function _paid(bytes32 id, uint32 task, uint8 signers) private {
        if (paid[id][task]) ++doublePays;
        paid[id][task] = true;
        for (uint256 i = 0; i < signers; ++i) {
            ++settledResults[worker(i)];
        }
    }

    /// The worker stakes, or (`backed`) another address stakes for it.
    function stake(uint8 who, uint96 amount, bool backed) external {
        address w = worker(bound(who, 0, 7));
        amount = uint96(bound(amount, 1, 100 ether));
        address from = backed ? address(0xBAC4E2) : w;
        vm.deal(from, amount);
        vm.prank(from);
        if (backed) escrow.stakeFor{value: amount}(w);
        else escrow.stake{value: amount}();
        staked += amount;
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
        stakeWithdrawn += escrow.withdrawStake(w);
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
    }

    function withdraw(uint8 who) external {
        address w = worker(bound(who, 0, 7));
        uint256 owed = escrow.balanceOf(w);
        if (owed == 0) return;
        escrow.withdraw(payable(w));
        withdrawn += owed;
    }

    function refund(uint256 jobSeed) external {
        if (jobs.length == 0) return;
        bytes32 id = jobs[jobSeed % jobs.length];
        try escrow.refund(id) returns (uint256 amount) {
            refunded += amount;
        } catch {}
    }

    function warp(uint16 secs) external {
        vm.warp(block.timestamp + bound(secs, 0, 1 days));
    }

    function creditedOutstanding() external view returns (uint256 sum) {
        for (uint256 i = 0; i < 8; ++i) {
            sum += escrow.balanceOf(worker(i));
        }
    }

    function stakesHeld() external view returns (uint256 sum) {
        for (uint256 i = 0; i < 8; ++i) {
            JobEscrow.Stake memory s = escrow.stakeOf(worker(i));
            sum += uint256(s.active) + s.unstaking;
        }
    }

    function remaining() external view returns (uint256 sum) {
        for (uint256 i = 0; i < jobs.length; ++i) {
            sum += escrow.getJob(jobs[i]).remaining;
        }
    }
}

contract JobEscrowInvariantTest is JobEscrowBase {
    EscrowHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new EscrowHandler(escrow);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](11);
        selectors[0] = EscrowHandler.create.selector;
        selectors[1] = EscrowHandler.settle.selector;
        selectors[2] = EscrowHandler.withdraw.selector;
        selectors[3] = EscrowHandler.refund.selector;
        selectors[4] = EscrowHandler.warp.selector;
        selectors[5] = EscrowHandler.settleAsRequester.selector;
        selectors[6] = EscrowHandler.stake.selector;
        selectors[7] = EscrowHandler.requestUnstake.selector;
        selectors[8] = EscrowHandler.withdrawStake.selector;
        selectors[9] = EscrowHandler.slash.selector;
        selectors[10] = EscrowHandler.settlePacked.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// escrowed + staked = credited (still owed) + withdrawn + refunded + still held by jobs
    ///                    + stake still held + stake withdrawn + burned
    /// (slash rewards move stake into credited, so they sit on both sides' terms)
    function invariant_accountingBalances() public view {
        assertEq(
            handler.escrowed() + handler.staked(),
            handler.creditedOutstanding() + handler.withdrawn() + handler.refunded() + handler.remaining()
                + handler.stakesHeld() + handler.stakeWithdrawn() + escrow.burned()
        );
        assertEq(
            address(escrow).balance,
            handler.creditedOutstanding() + handler.remaining() + handler.stakesHeld() + escrow.burned()
        );
    }

    /// the contract's per-worker record counts exactly the signatures it settled
    function invariant_settledResultsCounted() public view {
        for (uint256 i = 0; i < 8; ++i) {
            address w = worker(i);
            assertEq(escrow.accountOf(w).settledResults, handler.settledResults(w));
        }
    }

    /// no task is paid twice
    function invariant_noTaskPaidTwice() public view {
        assertEq(handler.doublePays(), 0);
    }
}

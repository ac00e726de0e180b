// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobEscrow} from "../src/JobEscrow.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

/// @dev Drives random create / settle / withdraw / refund / warp sequences and keeps its own
/// books, so the invariant can compare the contract's ether with what must still be inside it.
contract EscrowHandler is JobEscrowBase {
    bytes32[] public jobs;
    uint256 public escrowed;
    uint256 public withdrawn;
    uint256 public refunded;
    mapping(bytes32 => mapping(uint32 => bool)) public paid;
    uint256 public doublePays;

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
        try escrow.settle(one(cert(id, task, keccak256(abi.encode(task)), signers))) returns (uint256 n) {
            if (n == 1) {
                if (paid[id][task] || was) ++doublePays;
                paid[id][task] = true;
            }
        } catch {}
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
        vm.warp(block.timestamp + bound(secs, 0, 2 hours));
    }

    function creditedOutstanding() external view returns (uint256 sum) {
        for (uint256 i = 0; i < 8; ++i) {
            sum += escrow.balanceOf(worker(i));
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
        bytes4[] memory selectors = new bytes4[](5);
        selectors[0] = EscrowHandler.create.selector;
        selectors[1] = EscrowHandler.settle.selector;
        selectors[2] = EscrowHandler.withdraw.selector;
        selectors[3] = EscrowHandler.refund.selector;
        selectors[4] = EscrowHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// escrowed = credited (still owed) + withdrawn + refunded + still held by jobs
    function invariant_accountingBalances() public view {
        assertEq(
            handler.escrowed(),
            handler.creditedOutstanding() + handler.withdrawn() + handler.refunded() + handler.remaining()
        );
        assertEq(address(escrow).balance, handler.creditedOutstanding() + handler.remaining());
    }

    /// no task is paid twice
    function invariant_noTaskPaidTwice() public view {
        assertEq(handler.doublePays(), 0);
    }
}

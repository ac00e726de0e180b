// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {JobEscrow} from "../src/JobEscrow.sol";

/// @dev Shared helpers: a coordinator and workers with known keys; claims, records and results
/// signed under the escrow's EIP-712 domain.
abstract contract JobEscrowBase is Test {
    JobEscrow internal escrow;
    address internal requester = makeAddr("requester");
    uint256 internal coordinatorKey = uint256(keccak256("coordinator"));
    address internal coordinator = vm.addr(coordinatorKey);
    uint256[] internal workerKeys;

    uint128 internal constant REWARD = 1e15;
    uint128 internal constant FEE = 1e13;

    function setUp() public virtual {
        escrow = new JobEscrow();
        vm.deal(requester, 1_000 ether);
        for (uint256 i = 1; i <= 8; ++i) {
            workerKeys.push(uint256(keccak256(abi.encode("worker", i))));
        }
    }

    function params(uint32 tasks, uint8 replicas, uint8 quorum) internal view returns (JobEscrow.JobParams memory) {
        return JobEscrow.JobParams({
            modelHash: keccak256("model"),
            inputsRoot: keccak256("inputs"),
            policy: bytes32("exact"),
            taskCount: tasks,
            replicas: replicas,
            quorum: quorum,
            deadline: uint64(block.timestamp + 1 hours),
            rewardPerResult: REWARD,
            coordinator: coordinator,
            feePerTask: 0,
            minStake: 0
        });
    }

    function escrowOf(JobEscrow.JobParams memory p) internal pure returns (uint256) {
        return uint256(p.taskCount) * (uint256(p.replicas) * p.rewardPerResult + p.feePerTask);
    }

    function open(JobEscrow.JobParams memory p) internal returns (bytes32) {
        vm.prank(requester);
        return escrow.createJob{value: escrowOf(p)}(p);
    }

    function createJob(uint32 tasks, uint8 replicas, uint8 quorum) internal returns (bytes32) {
        return open(params(tasks, replicas, quorum));
    }

    function worker(uint256 i) internal view returns (address) {
        return vm.addr(workerKeys[i]);
    }

    function digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", escrow.domainSeparator(), structHash));
    }

    function signDigest(uint256 key, bytes32 d) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, d);
        return abi.encodePacked(r, s, v);
    }

    /// @dev A worker's Result signature (equivocation evidence).
    function sign(uint256 key, bytes32 jobId, uint32 task, bytes32 result) internal view returns (bytes memory) {
        return signDigest(key, digest(keccak256(abi.encode(escrow.RESULT_TYPEHASH(), jobId, task, result))));
    }

    /// @dev A claim for `who`, signed by `key`.
    function claimBy(uint256 key, bytes32 jobId, address who, uint32 results)
        internal
        view
        returns (JobEscrow.Claim memory c)
    {
        c.jobId = jobId;
        c.worker = who;
        c.results = results;
        c.signature = signDigest(key, digest(keccak256(abi.encode(escrow.CLAIM_TYPEHASH(), jobId, who, results))));
    }

    /// @dev A claim signed by the coordinator.
    function claim(bytes32 jobId, address who, uint32 results) internal view returns (JobEscrow.Claim memory) {
        return claimBy(coordinatorKey, jobId, who, results);
    }

    function one(JobEscrow.Claim memory c) internal pure returns (JobEscrow.Claim[] memory a) {
        a = new JobEscrow.Claim[](1);
        a[0] = c;
    }

    function two(JobEscrow.Claim memory c, JobEscrow.Claim memory d)
        internal
        pure
        returns (JobEscrow.Claim[] memory a)
    {
        a = new JobEscrow.Claim[](2);
        a[0] = c;
        a[1] = d;
    }

    /// @dev One packed record: taskIndex (4 bytes) ‖ resultHash (32).
    function rec(uint32 task, bytes32 result) internal pure returns (bytes memory) {
        return abi.encodePacked(task, result);
    }

    /// @dev Records of tasks [from, to) with result keccak256(task).
    function recs(uint32 from, uint32 to) internal pure returns (bytes memory b) {
        for (uint32 t = from; t < to; ++t) {
            b = bytes.concat(b, rec(t, keccak256(abi.encode(t))));
        }
    }

    /// @dev A Record signed by `key` whose fees go to `recorder` (address(0): the sender).
    function signRecordFor(uint256 key, bytes32 jobId, bytes memory tasks, address recorder)
        internal
        view
        returns (bytes memory)
    {
        return
            signDigest(key, digest(keccak256(abi.encode(escrow.RECORD_TYPEHASH(), jobId, keccak256(tasks), recorder))));
    }

    /// @dev A Record signed by `key` whose fees go to whoever sends it.
    function signRecordBy(uint256 key, bytes32 jobId, bytes memory tasks) internal view returns (bytes memory) {
        return signRecordFor(key, jobId, tasks, address(0));
    }

    function signRecord(bytes32 jobId, bytes memory tasks) internal view returns (bytes memory) {
        return signRecordBy(coordinatorKey, jobId, tasks);
    }

    /// @dev Records `tasks` with the coordinator's signature, sent by `from`.
    function recordAs(address from, bytes32 jobId, bytes memory tasks) internal returns (uint256) {
        bytes memory sig = signRecord(jobId, tasks);
        vm.prank(from);
        return escrow.record(jobId, tasks, address(0), sig);
    }

    function closesAt(bytes32 jobId) internal view returns (uint256) {
        return uint256(escrow.getJob(jobId).deadline) + escrow.CLAIM_WINDOW();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {JobEscrow} from "../src/JobEscrow.sol";

/// @dev Shared helpers: workers with known keys, signing results, certificates in signer order.
abstract contract JobEscrowBase is Test {
    JobEscrow internal escrow;
    address internal requester = makeAddr("requester");
    uint256[] internal workerKeys;

    uint128 internal constant REWARD = 1e15;

    function setUp() public virtual {
        escrow = new JobEscrow();
        vm.deal(requester, 1_000 ether);
        for (uint256 i = 1; i <= 8; ++i) {
            workerKeys.push(uint256(keccak256(abi.encode("worker", i))));
        }
        _sortKeysByAddress(workerKeys);
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
            rewardPerResult: REWARD
        });
    }

    function createJob(uint32 tasks, uint8 replicas, uint8 quorum) internal returns (bytes32) {
        JobEscrow.JobParams memory p = params(tasks, replicas, quorum);
        vm.prank(requester);
        return escrow.createJob{value: uint256(tasks) * replicas * REWARD}(p);
    }

    function worker(uint256 i) internal view returns (address) {
        return vm.addr(workerKeys[i]);
    }

    function sign(uint256 key, bytes32 jobId, uint32 task, bytes32 result) internal view returns (bytes memory) {
        bytes32 structHash = keccak256(abi.encode(escrow.RESULT_TYPEHASH(), jobId, task, result));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", escrow.domainSeparator(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Certificate signed by workers [0, n) — ascending, since keys are sorted by address.
    function cert(bytes32 jobId, uint32 task, bytes32 result, uint256 n) internal view returns (JobEscrow.Certificate memory c) {
        c.jobId = jobId;
        c.taskIndex = task;
        c.resultHash = result;
        c.signatures = new bytes[](n);
        for (uint256 i = 0; i < n; ++i) {
            c.signatures[i] = sign(workerKeys[i], jobId, task, result);
        }
    }

    /// @dev A 65-byte (r, s, v) signature in EIP-2098 compact form (r, vs), as settlePacked takes it.
    function compact(bytes memory sig) internal pure returns (bytes memory) {
        (bytes32 r, bytes32 s) = abi.decode(sig, (bytes32, bytes32));
        uint8 v = uint8(sig[64]);
        return abi.encodePacked(r, bytes32(uint256(s) | (uint256(v - 27) << 255)));
    }

    function one(JobEscrow.Certificate memory c) internal pure returns (JobEscrow.Certificate[] memory a) {
        a = new JobEscrow.Certificate[](1);
        a[0] = c;
    }

    function _sortKeysByAddress(uint256[] storage keys) private {
        for (uint256 i = 1; i < keys.length; ++i) {
            for (uint256 j = i; j > 0 && vm.addr(keys[j - 1]) > vm.addr(keys[j]); --j) {
                (keys[j - 1], keys[j]) = (keys[j], keys[j - 1]);
            }
        }
    }
}

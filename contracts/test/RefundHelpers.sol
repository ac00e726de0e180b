// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {JobEscrow} from "../src/JobEscrow.sol";
import {MeshworkRequests} from "../src/MeshworkRequests.sol";

/// @dev A contract requester of plain jobs with no receive() or fallback: it cannot take a
/// pushed refund, but it can withdraw a credited one to an address it names.
contract RefundlessRequester {
    function open(JobEscrow escrow, JobEscrow.JobParams calldata p) external payable returns (bytes32) {
        return escrow.createJob{value: msg.value}(p);
    }

    function withdrawRefund(JobEscrow escrow, address payable to) external returns (uint256) {
        return escrow.withdrawRefund(to);
    }
}

/// @dev A consumer of MeshworkRequests with no receive() or fallback (its callback does nothing).
contract RefundlessConsumer {
    MeshworkRequests internal immutable meshwork;

    constructor(MeshworkRequests m) {
        meshwork = m;
    }

    function ask(bytes calldata input) external payable returns (uint256) {
        return meshwork.request{value: msg.value}(
            keccak256("model"), input, bytes32("exact"), 2, 2, 1 hours, false, address(0), 0
        );
    }

    function onMeshworkResult(uint256, bytes32, bytes calldata) external {}

    function withdrawRefund(address payable to) external returns (uint256) {
        return meshwork.withdrawRefund(to);
    }
}

/// @dev Takes ether, but its receive() writes a fresh slot each time (over 22,100 gas): a send
/// with too little gas fails, which must never get its refund credited instead of sent.
contract CostlyReceiver {
    uint256 public received;
    mapping(uint256 => uint256) internal _log;

    function open(JobEscrow escrow, JobEscrow.JobParams calldata p) external payable returns (bytes32) {
        return escrow.createJob{value: msg.value}(p);
    }

    function ask(MeshworkRequests meshwork, bytes calldata input) external payable returns (uint256) {
        return meshwork.request{value: msg.value}(
            keccak256("model"), input, bytes32("exact"), 2, 2, 1 hours, false, address(0), 0
        );
    }

    function onMeshworkResult(uint256, bytes32, bytes calldata) external {}

    receive() external payable {
        _log[++received] = msg.value;
    }
}

/// @dev Takes ether by burning all the gas it is given: a requester or consumer cannot make its
/// own refund fail for lack of gas, only have it credited.
contract GasGuzzler {
    function open(JobEscrow escrow, JobEscrow.JobParams calldata p) external payable returns (bytes32) {
        return escrow.createJob{value: msg.value}(p);
    }

    receive() external payable {
        while (true) {}
    }
}

/// @dev Refuses every payment.
contract EtherRefuser {
    receive() external payable {
        revert("no");
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Callback of a contract that opened jobs with `JobEscrow.createJobWithCallback`
/// @notice JobEscrow calls it once per task, when the job's coordinator records the task's
/// accepted result (`JobEscrow.record`), with bounded gas; a reverting callback never blocks
/// recording or pay.
interface IJobCallback {
    /// @param resultHash the result the coordinator accepted for task `taskIndex` of `jobId`.
    function onTaskSettled(bytes32 jobId, uint32 taskIndex, bytes32 resultHash) external;
}

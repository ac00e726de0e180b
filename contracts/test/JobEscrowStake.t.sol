// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobEscrow} from "../src/JobEscrow.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

contract JobEscrowStakeTest is JobEscrowBase {
    bytes32 internal id;
    address internal w;
    uint256 internal wKey;
    address internal reporter = makeAddr("reporter");
    uint128 internal constant STAKE = 1 ether;

    function setUp() public override {
        super.setUp();
        id = createJob(10, 3, 2);
        wKey = workerKeys[0];
        w = worker(0);
        vm.deal(w, 10 ether);
        vm.prank(w);
        escrow.stake{value: STAKE}();
    }

    function _equivocation() internal view returns (bytes memory a, bytes memory b) {
        a = sign(wKey, id, 3, keccak256("a"));
        b = sign(wKey, id, 3, keccak256("b"));
    }

    function test_stake_addsToActive() public {
        vm.prank(w);
        escrow.stake{value: 2 ether}();
        assertEq(escrow.stakeOf(w).active, 3 ether);
        assertEq(address(escrow).balance, 30 * REWARD + 3 ether);
    }

    function test_stake_emitsStaked() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.Staked(w, w, 1 ether, 2 ether);
        vm.prank(w);
        escrow.stake{value: 1 ether}();
    }

    function test_stakeFor_backsAnotherAddress() public {
        address backer = makeAddr("backer");
        vm.deal(backer, 5 ether);
        vm.expectEmit(address(escrow));
        emit JobEscrow.Staked(w, backer, 2 ether, 3 ether);
        vm.prank(backer);
        escrow.stakeFor{value: 2 ether}(w);
        assertEq(escrow.stakeOf(w).active, 3 ether);
        assertEq(escrow.stakeOf(backer).active, 0);
        // Only the worker can unstake it, and the ether goes to the worker whoever sends the withdrawal.
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.InsufficientStake.selector, 1 ether, 0));
        vm.prank(backer);
        escrow.requestUnstake(1 ether);
        vm.prank(w);
        escrow.requestUnstake(3 ether);
        vm.warp(block.timestamp + escrow.UNSTAKE_DELAY());
        uint256 before = w.balance;
        vm.prank(backer);
        assertEq(escrow.withdrawStake(w), 3 ether);
        assertEq(w.balance, before + 3 ether);
        assertEq(backer.balance, 3 ether);
    }

    function test_stakeFor_revertsOnZeroAddressOrValue() public {
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        escrow.stakeFor{value: 1 ether}(address(0));
        vm.expectRevert(JobEscrow.ZeroStake.selector);
        escrow.stakeFor(w);
    }

    function test_stake_revertsOnZero() public {
        vm.expectRevert(JobEscrow.ZeroStake.selector);
        vm.prank(w);
        escrow.stake();
    }

    function test_unstake_waitsForDelay() public {
        vm.prank(w);
        escrow.requestUnstake(0.4 ether);
        JobEscrow.Stake memory s = escrow.stakeOf(w);
        assertEq(s.active, 0.6 ether);
        assertEq(s.unstaking, 0.4 ether);
        assertEq(s.unlockAt, block.timestamp + escrow.UNSTAKE_DELAY());
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.StakeLocked.selector, s.unlockAt));
        vm.prank(w);
        escrow.withdrawStake(w);
        vm.warp(s.unlockAt);
        uint256 before = w.balance;
        vm.prank(w);
        assertEq(escrow.withdrawStake(w), 0.4 ether);
        assertEq(w.balance, before + 0.4 ether);
        assertEq(escrow.stakeOf(w).unstaking, 0);
    }

    function test_unstake_revertsAboveActive() public {
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.InsufficientStake.selector, 2 ether, STAKE));
        vm.prank(w);
        escrow.requestUnstake(2 ether);
    }

    function test_unstake_revertsOnZero() public {
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.InsufficientStake.selector, 0, STAKE));
        vm.prank(w);
        escrow.requestUnstake(0);
    }

    function test_unstake_againRestartsTheDelay() public {
        vm.prank(w);
        escrow.requestUnstake(0.5 ether);
        vm.warp(block.timestamp + 2 days);
        vm.prank(w);
        escrow.requestUnstake(0.5 ether);
        assertEq(escrow.stakeOf(w).unlockAt, block.timestamp + escrow.UNSTAKE_DELAY());
        assertEq(escrow.stakeOf(w).unstaking, 1 ether);
    }

    function test_withdrawStake_revertsWhenNothingUnstaking() public {
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NothingToUnstake.selector, w));
        vm.prank(w);
        escrow.withdrawStake(w);
    }

    function test_slash_takesActiveAndUnstaking() public {
        vm.prank(w);
        escrow.requestUnstake(0.25 ether);
        (bytes memory a, bytes memory b) = _equivocation();
        vm.expectEmit(address(escrow));
        emit JobEscrow.Slashed(w, id, 3, STAKE, reporter, STAKE / 2);
        vm.prank(reporter);
        assertEq(escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), b), STAKE);
        JobEscrow.Stake memory s = escrow.stakeOf(w);
        assertEq(s.active, 0);
        assertEq(s.unstaking, 0);
        assertEq(escrow.balanceOf(reporter), STAKE / 2);
        assertEq(escrow.burned(), STAKE - STAKE / 2);
        assertEq(escrow.accountOf(w).slashes, 1);
        // The unstaking part is gone too: nothing to withdraw after the delay.
        vm.warp(block.timestamp + escrow.UNSTAKE_DELAY());
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NothingToUnstake.selector, w));
        vm.prank(w);
        escrow.withdrawStake(w);
    }

    function test_slash_selfReportLosesHalf() public {
        (bytes memory a, bytes memory b) = _equivocation();
        vm.prank(w);
        escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), b);
        assertEq(escrow.balanceOf(w), STAKE / 2);
    }

    function test_slash_revertsOnSameResult() public {
        (bytes memory a,) = _equivocation();
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SameResult.selector, keccak256("a")));
        escrow.slash(id, 3, keccak256("a"), a, keccak256("a"), a);
    }

    function test_slash_revertsOnTwoSigners() public {
        bytes memory a = sign(wKey, id, 3, keccak256("a"));
        bytes memory b = sign(workerKeys[1], id, 3, keccak256("b"));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotEquivocation.selector, w, worker(1)));
        escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), b);
    }

    function test_slash_signaturesForDifferentTasksAreNotEvidence() public {
        bytes memory a = sign(wKey, id, 3, keccak256("a"));
        bytes memory b = sign(wKey, id, 4, keccak256("b"));
        // Each signature recovers under its own task; claimed under task 3, b is someone else's.
        vm.expectRevert();
        escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), b);
        assertEq(escrow.stakeOf(w).active, STAKE);
    }

    function test_slash_revertsOnUnknownJob() public {
        (bytes memory a, bytes memory b) = _equivocation();
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.UnknownJob.selector, bytes32(uint256(1))));
        escrow.slash(bytes32(uint256(1)), 3, keccak256("a"), a, keccak256("b"), b);
    }

    function test_slash_revertsWhenNothingStaked() public {
        bytes memory a = sign(workerKeys[1], id, 3, keccak256("a"));
        bytes memory b = sign(workerKeys[1], id, 3, keccak256("b"));
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NothingToSlash.selector, worker(1)));
        escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), b);
    }

    function test_slash_secondTimeFindsNothing() public {
        (bytes memory a, bytes memory b) = _equivocation();
        escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), b);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NothingToSlash.selector, w));
        escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), b);
    }

    function test_slash_revertsOnMalleableSignature() public {
        (bytes memory a, bytes memory b) = _equivocation();
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(b, 32))
            s := mload(add(b, 64))
            v := byte(0, mload(add(b, 96)))
        }
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes memory flipped = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert();
        escrow.slash(id, 3, keccak256("a"), a, keccak256("b"), flipped);
    }

    function testFuzz_slash_onlyEquivocationSlashes(bytes32 hashA, bytes32 hashB, uint32 taskA, uint32 taskB) public {
        bytes memory a = sign(wKey, id, taskA, hashA);
        bytes memory b = sign(wKey, id, taskB, hashB);
        bool equivocation = taskA == taskB && hashA != hashB;
        if (!equivocation) vm.expectRevert();
        escrow.slash(id, taskA, hashA, a, hashB, b);
        assertEq(escrow.stakeOf(w).active, equivocation ? 0 : STAKE);
    }
}

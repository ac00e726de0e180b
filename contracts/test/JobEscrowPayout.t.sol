// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobEscrow} from "../src/JobEscrow.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";

/// @dev Payout authorisations: a worker's key directs its pay to another address.
contract JobEscrowPayoutTest is JobEscrowBase {
    bytes32 internal id;
    address internal treasury = makeAddr("treasury");

    function setUp() public override {
        super.setUp();
        id = createJob(10, 3, 2);
        escrow.redeem(two(claim(id, worker(0), 1), claim(id, worker(1), 1)));
    }

    function auth(uint256 key, address payout, uint64 nonce) internal view returns (JobEscrow.PayoutAuth memory a) {
        a.worker = vm.addr(key);
        a.payout = payout;
        a.nonce = nonce;
        bytes32 structHash = keccak256(abi.encode(escrow.PAYOUT_TYPEHASH(), a.worker, payout, nonce));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", escrow.domainSeparator(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        a.signature = abi.encodePacked(r, s, v);
    }

    function just(JobEscrow.PayoutAuth memory a) internal pure returns (JobEscrow.PayoutAuth[] memory out) {
        out = new JobEscrow.PayoutAuth[](1);
        out[0] = a;
    }

    function test_payout_withdrawGoesToPayoutAddress() public {
        address w = worker(0);
        vm.prank(makeAddr("coordinator"));
        assertEq(escrow.setPayouts(just(auth(workerKeys[0], treasury, 1))), 1);
        uint256 workerBefore = w.balance;
        vm.expectEmit(address(escrow));
        emit JobEscrow.Withdrawn(w, treasury, REWARD);
        escrow.withdraw(payable(w));
        assertEq(treasury.balance, REWARD);
        assertEq(w.balance, workerBefore);
        assertEq(escrow.payoutOf(w).payout, treasury);
        assertEq(escrow.payoutOf(w).nonce, 1);
    }

    function test_payout_unsetPaysWorker() public view {
        assertEq(escrow.payoutOf(worker(1)).payout, address(0));
        assertEq(escrow.payoutOf(worker(1)).nonce, 0);
    }

    function test_payout_newerNonceReplaces_olderIsSkipped() public {
        address other = makeAddr("other");
        escrow.setPayouts(just(auth(workerKeys[0], treasury, 5)));
        // Older and equal nonces are skipped, not reverted (two parties may race).
        assertEq(escrow.setPayouts(just(auth(workerKeys[0], other, 4))), 0);
        assertEq(escrow.setPayouts(just(auth(workerKeys[0], other, 5))), 0);
        assertEq(escrow.payoutOf(worker(0)).payout, treasury);
        vm.expectEmit(address(escrow));
        emit JobEscrow.PayoutSet(worker(0), other, 6);
        assertEq(escrow.setPayouts(just(auth(workerKeys[0], other, 6))), 1);
        escrow.withdraw(payable(worker(0)));
        assertEq(other.balance, REWARD);
        assertEq(treasury.balance, 0);
    }

    function test_payout_batchSetsSeveral() public {
        JobEscrow.PayoutAuth[] memory a = new JobEscrow.PayoutAuth[](2);
        a[0] = auth(workerKeys[0], treasury, 1);
        a[1] = auth(workerKeys[1], treasury, 1);
        assertEq(escrow.setPayouts(a), 2);
        escrow.withdraw(payable(worker(0)));
        escrow.withdraw(payable(worker(1)));
        assertEq(treasury.balance, 2 * REWARD);
    }

    function test_payout_revertsOnSignatureByAnotherKey() public {
        JobEscrow.PayoutAuth memory a = auth(workerKeys[1], treasury, 1);
        a.worker = worker(0); // signed by worker 1, claims to be worker 0
        JobEscrow.PayoutAuth[] memory batch = just(a);
        // The digest names worker 0, so the signature recovers to some third address.
        vm.expectPartialRevert(JobEscrow.BadPayoutSignature.selector);
        escrow.setPayouts(batch);
    }

    function test_payout_revertsOnAlteredPayout() public {
        JobEscrow.PayoutAuth memory a = auth(workerKeys[0], treasury, 1);
        a.payout = makeAddr("thief");
        JobEscrow.PayoutAuth[] memory batch = just(a);
        vm.expectPartialRevert(JobEscrow.BadPayoutSignature.selector);
        escrow.setPayouts(batch);
        assertEq(escrow.payoutOf(worker(0)).payout, address(0));
    }

    function test_payout_revertsOnZeroPayout() public {
        JobEscrow.PayoutAuth[] memory batch = just(auth(workerKeys[0], address(0), 1));
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        escrow.setPayouts(batch);
    }

    function test_payout_notReplayableOnAnotherDeployment() public {
        JobEscrow.PayoutAuth[] memory batch = just(auth(workerKeys[0], treasury, 1));
        JobEscrow other = new JobEscrow();
        vm.expectPartialRevert(JobEscrow.BadPayoutSignature.selector);
        other.setPayouts(batch);
    }

    function testFuzz_payout_onlyTheWorkersKeySets(uint256 key, address payout, uint64 nonce) public {
        key = bound(key, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        vm.assume(payout != address(0) && nonce > 0);
        JobEscrow.PayoutAuth memory a = auth(key, payout, nonce);
        a.worker = worker(0);
        JobEscrow.PayoutAuth[] memory batch = just(a);
        if (vm.addr(key) == worker(0)) {
            escrow.setPayouts(batch);
        } else {
            vm.expectPartialRevert(JobEscrow.BadPayoutSignature.selector);
            escrow.setPayouts(batch);
        }
    }
}

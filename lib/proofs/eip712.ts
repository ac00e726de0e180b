/**
 * EIP-712 typed data for results. A worker signs `Result(jobId, taskIndex, resultHash)` under the
 * escrow contract's domain, which binds chain id and contract address, so a signature cannot be
 * replayed on another chain or against another deployment.
 */
import { type Address, type Hex, hashTypedData, recoverTypedDataAddress } from 'viem'

export const RESULT_DOMAIN_NAME = 'Meshwork'
export const RESULT_DOMAIN_VERSION = '1'

export const RESULT_TYPES = {
  Result: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'taskIndex', type: 'uint32' },
    { name: 'resultHash', type: 'bytes32' },
  ],
} as const

export interface ResultDomainParameters {
  chainId: number
  /** The escrow contract. */
  contract: Address
}

export interface ResultMessage {
  jobId: Hex
  taskIndex: number
  resultHash: Hex
}

/** Anything that can sign typed data: a viem `LocalAccount`, a wallet client bound to an account. */
export interface TypedDataSigner {
  address: Address
  signTypedData(args: {
    domain: ReturnType<typeof resultDomain>
    types: typeof RESULT_TYPES
    primaryType: 'Result'
    message: ResultMessage
  }): Promise<Hex>
}

export function resultDomain({ chainId, contract }: ResultDomainParameters) {
  return {
    name: RESULT_DOMAIN_NAME,
    version: RESULT_DOMAIN_VERSION,
    chainId,
    verifyingContract: contract,
  } as const
}

export function resultDigest(domain: ResultDomainParameters, message: ResultMessage): Hex {
  return hashTypedData({
    domain: resultDomain(domain),
    types: RESULT_TYPES,
    primaryType: 'Result',
    message,
  })
}

export function signResult(
  signer: TypedDataSigner,
  domain: ResultDomainParameters,
  message: ResultMessage,
) {
  return signer.signTypedData({
    domain: resultDomain(domain),
    types: RESULT_TYPES,
    primaryType: 'Result',
    message,
  })
}

/** The address that signed `message`, or undefined for a signature that does not parse. */
export async function recoverResultSigner(
  domain: ResultDomainParameters,
  message: ResultMessage,
  signature: Hex,
): Promise<Address | undefined> {
  try {
    return await recoverTypedDataAddress({
      domain: resultDomain(domain),
      types: RESULT_TYPES,
      primaryType: 'Result',
      message,
      signature,
    })
  } catch {
    return undefined
  }
}

/**
 * A worker's payout authorisation: `Payout(worker, payout, nonce)` under the same domain. The
 * escrow's `setPayouts` accepts it from anyone and sends the worker's pay to `payout` from then
 * on; a newer nonce replaces an older authorisation.
 */
export const PAYOUT_TYPES = {
  Payout: [
    { name: 'worker', type: 'address' },
    { name: 'payout', type: 'address' },
    { name: 'nonce', type: 'uint64' },
  ],
} as const

export interface PayoutMessage {
  worker: Address
  payout: Address
  nonce: bigint
}

/** Anything that can sign a payout authorisation (a viem `LocalAccount`). */
export interface PayoutSigner {
  address: Address
  signTypedData(args: {
    domain: ReturnType<typeof resultDomain>
    types: typeof PAYOUT_TYPES
    primaryType: 'Payout'
    message: PayoutMessage
  }): Promise<Hex>
}

export function signPayout(
  signer: PayoutSigner,
  domain: ResultDomainParameters,
  payout: Address,
  nonce: bigint,
): Promise<Hex> {
  return signer.signTypedData({
    domain: resultDomain(domain),
    types: PAYOUT_TYPES,
    primaryType: 'Payout',
    message: { worker: signer.address, payout, nonce },
  })
}

/** The address that signed the authorisation, or undefined for a signature that does not parse. */
export async function recoverPayoutSigner(
  domain: ResultDomainParameters,
  message: PayoutMessage,
  signature: Hex,
): Promise<Address | undefined> {
  try {
    return await recoverTypedDataAddress({
      domain: resultDomain(domain),
      types: PAYOUT_TYPES,
      primaryType: 'Payout',
      message,
      signature,
    })
  } catch {
    return undefined
  }
}

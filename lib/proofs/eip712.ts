/**
 * EIP-712 typed data under the escrow contract's domain, which binds chain id and contract
 * address, so no signature can be replayed on another chain or against another deployment:
 * a worker's `Result(jobId, taskIndex, resultHash)` (equivocation evidence), a worker's
 * `Payout(worker, payout, nonce)`, and the job coordinator's `Claim(jobId, worker, results)` (pay)
 * and `Record(jobId, tasksHash, recorder)` (results on chain, their fees to `recorder`). Only the
 * coordinator's signatures move a job's escrow.
 */
import {
  type Address,
  concatHex,
  encodeAbiParameters,
  type Hex,
  hashTypedData,
  hexToNumber,
  isAddress,
  isHex,
  keccak256,
  numberToHex,
  size,
  sliceHex,
  zeroAddress,
} from 'viem'
import { InvalidInputError } from '../errors'
import { recoverStrict } from './ecdsa'

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

/**
 * EIP-712's digest of a Result, `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`,
 * equal to viem's `hashTypedData` (a unit test compares them) but from a cached domain separator
 * and type hash: a coordinator recovers one per result it receives, and the general encoder hashed
 * the domain and the type string anew each time (most of a result's CPU).
 */
export function resultDigest(domain: ResultDomainParameters, message: ResultMessage): Hex {
  const { jobId, taskIndex, resultHash } = message
  if (!isHex(jobId, { strict: true }) || jobId.length !== 66)
    throw new InvalidInputError(`jobId must be 32 bytes of hex, not ${jobId}`)
  if (!isHex(resultHash, { strict: true }) || resultHash.length !== 66)
    throw new InvalidInputError(`resultHash must be 32 bytes of hex, not ${resultHash}`)
  if (!Number.isInteger(taskIndex) || taskIndex < 0 || taskIndex > 0xffffffff)
    throw new InvalidInputError(`taskIndex must be a uint32, not ${taskIndex}`)
  const structHash = keccak256(
    concatHex([RESULT_TYPEHASH, jobId, numberToHex(taskIndex, { size: 32 }), resultHash]),
  )
  return keccak256(concatHex(['0x1901', domainSeparatorOf(domain), structHash]))
}

const DOMAIN_TYPEHASH = keccak256(
  new TextEncoder().encode(
    'EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)',
  ),
)
const RESULT_TYPEHASH = keccak256(
  new TextEncoder().encode('Result(bytes32 jobId,uint32 taskIndex,bytes32 resultHash)'),
)
/** Domain separators by chain id and contract (a process talks to a handful). */
const separators = new Map<string, Hex>()

function domainSeparatorOf(domain: ResultDomainParameters): Hex {
  // Any casing of a valid address, as the contract reads it (viem's encoder checks a mixed-case
  // checksum too; a wrong one names no other contract).
  if (!isAddress(domain.contract, { strict: false }))
    throw new InvalidInputError(`contract must be an address, not ${domain.contract}`)
  const key = `${domain.chainId}/${domain.contract.toLowerCase()}`
  let sep = separators.get(key)
  if (!sep) {
    sep = keccak256(
      encodeAbiParameters(
        [
          { type: 'bytes32' },
          { type: 'bytes32' },
          { type: 'bytes32' },
          { type: 'uint256' },
          { type: 'address' },
        ],
        [
          DOMAIN_TYPEHASH,
          keccak256(new TextEncoder().encode(RESULT_DOMAIN_NAME)),
          keccak256(new TextEncoder().encode(RESULT_DOMAIN_VERSION)),
          BigInt(domain.chainId),
          domain.contract,
        ],
      ),
    )
    if (separators.size >= 64) separators.clear()
    separators.set(key, sep)
  }
  return sep
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
    return recoverStrict(resultDigest(domain, message), signature)
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
    const digest = hashTypedData({
      domain: resultDomain(domain),
      types: PAYOUT_TYPES,
      primaryType: 'Payout',
      message,
    })
    return recoverStrict(digest, signature)
  } catch {
    return undefined
  }
}

/**
 * A coordinator's cumulative claim: `Claim(jobId, worker, results)` under the same domain, "I
 * accepted `results` results of `worker` in this job, in total". The escrow pays
 * `results × rewardPerResult` for it, less what older claims of the worker in the job paid; the
 * newest supersedes the older ones. Only the job's coordinator's claims are worth anything.
 */
export const CLAIM_TYPES = {
  Claim: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'worker', type: 'address' },
    { name: 'results', type: 'uint32' },
  ],
} as const

export interface ClaimMessage {
  jobId: Hex
  worker: Address
  /** Accepted results of `worker` in the job, in total (a uint32). */
  results: number
}

/** Anything that can sign a claim (a viem `LocalAccount`, a wallet client bound to an account). */
export interface ClaimSigner {
  address: Address
  signTypedData(args: {
    domain: ReturnType<typeof resultDomain>
    types: typeof CLAIM_TYPES
    primaryType: 'Claim'
    message: ClaimMessage
  }): Promise<Hex>
}

export function claimDigest(domain: ResultDomainParameters, claim: ClaimMessage): Hex {
  return hashTypedData({
    domain: resultDomain(domain),
    types: CLAIM_TYPES,
    primaryType: 'Claim',
    message: claim,
  })
}

export function signClaim(
  signer: ClaimSigner,
  domain: ResultDomainParameters,
  claim: ClaimMessage,
): Promise<Hex> {
  return signer.signTypedData({
    domain: resultDomain(domain),
    types: CLAIM_TYPES,
    primaryType: 'Claim',
    message: claim,
  })
}

/** The address that signed the claim, or undefined for a signature that does not parse. */
export async function recoverClaimSigner(
  domain: ResultDomainParameters,
  claim: ClaimMessage,
  signature: Hex,
): Promise<Address | undefined> {
  try {
    return recoverStrict(claimDigest(domain, claim), signature)
  } catch {
    return undefined
  }
}

/**
 * A coordinator's record of accepted results: `Record(jobId, tasksHash, recorder)` under the same
 * domain, where `tasksHash` is the keccak256 of the packed records (`packRecords`) and `recorder`
 * the account the job's fee per newly recorded task is credited to. The zero address means
 * whoever sends the transaction, so any relayer can be paid, but so can anyone who copies it from
 * the mempool and sends it first; naming the relayer leaves a copier nothing to gain. The
 * escrow's `record` takes the records with this signature and emits them; a callback job's
 * requester hears each.
 */
export const RECORD_TYPES = {
  Record: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'tasksHash', type: 'bytes32' },
    { name: 'recorder', type: 'address' },
  ],
} as const

/** The message a coordinator signs for a record. */
export interface RecordMessage {
  jobId: Hex
  /** keccak256 of the packed records. */
  tasksHash: Hex
  /** Credited the fees; the zero address: whoever sends the transaction. */
  recorder: Address
}

/** One task's accepted result, as recorded on chain. */
export interface RecordEntry {
  taskIndex: number
  resultHash: Hex
}

/** Bytes per packed record: taskIndex (4, big-endian) ‖ resultHash (32). */
export const RECORD_BYTES = 36

/** Records packed as the escrow takes and emits them, in the order given. */
export function packRecords(entries: readonly RecordEntry[]): Hex {
  const parts: Hex[] = []
  for (const e of entries) {
    if (!Number.isInteger(e.taskIndex) || e.taskIndex < 0 || e.taskIndex > 0xffffffff)
      throw new InvalidInputError(`A task index must be a uint32; got ${e.taskIndex}.`)
    if (!isHex(e.resultHash) || size(e.resultHash) !== 32)
      throw new InvalidInputError(`A result hash must be 32 bytes; got ${e.resultHash}.`)
    parts.push(numberToHex(e.taskIndex, { size: 4 }), e.resultHash)
  }
  return concatHex(parts)
}

/** The records in packed bytes (a ResultsRecorded event's `tasks`); throws on a bad length. */
export function unpackRecords(tasks: Hex): RecordEntry[] {
  if (!isHex(tasks)) throw new InvalidInputError('Packed records must be hex.')
  const len = size(tasks)
  if (len % RECORD_BYTES !== 0)
    throw new InvalidInputError(
      `Packed records are ${RECORD_BYTES} bytes each; got ${len} bytes.`,
      {
        details: `${len % RECORD_BYTES} bytes too many for ${Math.floor(len / RECORD_BYTES)} records`,
      },
    )
  const out: RecordEntry[] = []
  for (let off = 0; off < len; off += RECORD_BYTES) {
    out.push({
      taskIndex: hexToNumber(sliceHex(tasks, off, off + 4)),
      resultHash: sliceHex(tasks, off + 4, off + RECORD_BYTES),
    })
  }
  return out
}

/** Anything that can sign a record (a viem `LocalAccount`, a wallet client bound to an account). */
export interface RecordSigner {
  address: Address
  signTypedData(args: {
    domain: ReturnType<typeof resultDomain>
    types: typeof RECORD_TYPES
    primaryType: 'Record'
    message: RecordMessage
  }): Promise<Hex>
}

/** The message signed for packed records (`packRecords`) of `jobId` whose fees go to `recorder`. */
function recordMessage(jobId: Hex, tasks: Hex, recorder: Address): RecordMessage {
  return { jobId, tasksHash: keccak256(tasks), recorder }
}

/** The EIP-712 digest of a record; `recorder` defaults to the zero address (whoever sends it). */
export function recordDigest(
  domain: ResultDomainParameters,
  jobId: Hex,
  tasks: Hex,
  recorder: Address = zeroAddress,
): Hex {
  return hashTypedData({
    domain: resultDomain(domain),
    types: RECORD_TYPES,
    primaryType: 'Record',
    message: recordMessage(jobId, tasks, recorder),
  })
}

/**
 * Signs packed records (`packRecords`) of `jobId`, their fees to `recorder`: the account that
 * will send them, or (the default, the zero address) whoever does. The escrow's `record` must
 * then be sent with the same `recorder` (`recordResults`).
 */
export function signRecord(
  signer: RecordSigner,
  domain: ResultDomainParameters,
  jobId: Hex,
  tasks: Hex,
  recorder: Address = zeroAddress,
): Promise<Hex> {
  return signer.signTypedData({
    domain: resultDomain(domain),
    types: RECORD_TYPES,
    primaryType: 'Record',
    message: recordMessage(jobId, tasks, recorder),
  })
}

/**
 * The address that signed the records for `recorder` (default: the zero address), or undefined
 * for a signature that does not parse.
 */
export async function recoverRecordSigner(
  domain: ResultDomainParameters,
  jobId: Hex,
  tasks: Hex,
  signature: Hex,
  recorder: Address = zeroAddress,
): Promise<Address | undefined> {
  try {
    return recoverStrict(recordDigest(domain, jobId, tasks, recorder), signature)
  } catch {
    return undefined
  }
}

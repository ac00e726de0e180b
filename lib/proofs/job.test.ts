import { parseEther } from 'viem'
import { describe, expect, it } from 'vitest'
import { InvalidInputError } from '../errors'
import { escrowFor, type JobSpec, validateJobSpec } from './job'
import { parsePolicy } from './policy'

const NOW = 1_700_000_000
const spec: JobSpec = {
  modelHash: `0x${'01'.repeat(32)}`,
  inputsRoot: `0x${'02'.repeat(32)}`,
  taskCount: 10,
  replicas: 3,
  quorum: 2,
  policy: parsePolicy('exact'),
  rewardPerResult: parseEther('0.001'),
  deadline: NOW + 3600,
  coordinator: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
}

describe('job specs', () => {
  it('escrow taskCount × (replicas × reward + fee), the fee 0 when absent', () => {
    expect(escrowFor(spec)).toBe(parseEther('0.03'))
    expect(escrowFor({ ...spec, feePerTask: parseEther('0.0001') })).toBe(parseEther('0.031'))
  })

  it('need a non-zero coordinator address', () => {
    expect(validateJobSpec(spec, NOW)).toBe(spec)
    for (const coordinator of ['0x0000000000000000000000000000000000000000', '0x1234', 'nope'])
      expect(() => validateJobSpec({ ...spec, coordinator } as JobSpec, NOW)).toThrowError(
        InvalidInputError,
      )
  })

  it('take fees and minimum stakes that fit the contract’s 128 bits', () => {
    expect(
      validateJobSpec({ ...spec, feePerTask: 1n, minStake: parseEther('1') }, NOW),
    ).toBeTruthy()
    expect(() => validateJobSpec({ ...spec, feePerTask: -1n }, NOW)).toThrowError(InvalidInputError)
    expect(() => validateJobSpec({ ...spec, minStake: 2n ** 128n }, NOW)).toThrowError(
      InvalidInputError,
    )
  })
})

import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createTestClient, http, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_PRIVATE_KEYS, publicClientFor } from '../../lib/chain'
import { type NodeVolunteer, startNodeVolunteer, walletFor } from '../../lib/sdk/node'
import { startTestStack, type TestStack } from '../helpers/stack'

const exec = promisify(execFile)
const ROOT = join(import.meta.dirname, '../..')
const meshwork = (args: string[]) =>
  exec(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'cli/meshwork.ts'), ...args], {
    cwd: ROOT,
    timeout: 120_000,
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  )

let stack: TestStack
const volunteers: NodeVolunteer[] = []
let net: string[]

beforeAll(async () => {
  stack = await startTestStack()
  const cfg = { ...stack.chain, relays: [stack.relay.multiaddr] }
  for (let i = 0; i < 2; i++) volunteers.push(await startNodeVolunteer(cfg))
  net = [
    '--relay',
    stack.relay.multiaddr,
    '--rpc',
    stack.chain.rpcUrl,
    '--chain-id',
    String(stack.chain.chainId),
    '--contract',
    stack.chain.contract,
  ]
})

afterAll(async () => {
  await Promise.all(volunteers.map((v) => v.stop()))
  await stack?.stop()
})

describe('meshwork CLI', () => {
  it('submit: pays, waits for settlement and prints the results JSON', async () => {
    const r = await meshwork([
      'submit',
      '--model',
      'mlp-16x4',
      '--tasks',
      '3',
      '--replicas',
      '2',
      '--quorum',
      '2',
      ...net,
    ])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.tasks).toHaveLength(3)
    // By default the CLI computes 2 % of the tasks itself (at least 2) as known answers: one
    // matching result settles those; the rest need the quorum of 2.
    const by = out.tasks.map((t: { verifiedBy: string }) => t.verifiedBy).sort()
    expect(by).toEqual(['known-answer', 'known-answer', 'quorum'])
    for (const t of out.tasks) {
      expect(t.status).toBe('settled')
      // A known answer settles on the first match; the second replica may arrive before that.
      if (t.verifiedBy === 'quorum') expect(t.agreeing).toHaveLength(2)
      else expect(t.agreeing.length).toBeGreaterThanOrEqual(1)
      expect(t.outputs.y.dims).toEqual([1, 4])
    }
    expect(r.stderr).toMatch(/anvil dev account 1/)
  })

  it('submit: refuses an inputs file that does not fit the model before paying', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'))
    const file = join(dir, 'inputs.json')
    writeFileSync(file, JSON.stringify([{ x: { type: 'float32', dims: [1, 3], data: [1, 2, 3] } }]))
    const r = await meshwork(['submit', '--model', 'mlp-16x4', '--inputs', file, ...net])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/Task 0: Input "x" dimension 1 must be 16, got 3/)
  })

  it('submit: names the problem with a missing model file or a malformed inputs file', async () => {
    expect((await meshwork(['submit', '--model', '/nope.onnx', ...net])).stderr).toMatch(
      /Model file \/nope.onnx does not exist/,
    )
    const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'))
    writeFileSync(join(dir, 'bad.json'), '{not json')
    const r = await meshwork([
      'submit',
      '--model',
      'mlp-16x4',
      '--inputs',
      join(dir, 'bad.json'),
      ...net,
    ])
    expect(r.stderr).toMatch(/Cannot read the inputs file/)
  })

  it('stake: a backer adds stake, the volunteer unstakes, and after the delay it is paid back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'))
    const keyFile = join(dir, 'volunteer.key')
    const chainNet = net.slice(2) // no --relay: stake only talks to the chain
    const stake = async (args: string[]) => {
      const r = await meshwork(['stake', '--key-file', keyFile, ...args, ...chainNet])
      return { ...r, json: r.code === 0 ? JSON.parse(r.stdout) : undefined }
    }
    expect((await stake([])).stderr).toMatch(/No volunteer key at .*volunteer.key/)
    const key = generatePrivateKey()
    writeFileSync(keyFile, `${key}\n`)
    const worker = privateKeyToAccount(key).address

    const before = await stake([])
    expect(before.json).toMatchObject({ worker, active: '0', unstaking: '0' })
    // Backed by anvil dev account 1: the volunteer's own address holds no ether.
    const added = await stake(['--add', '0.5'])
    expect(added.stderr).toMatch(/anvil dev account 1/)
    expect(added.json.active).toBe(parseEther('0.5').toString())
    expect((await stake(['--add', 'lots'])).stderr).toMatch(/--add must be an amount of ether/)

    // Unstaking is signed by the volunteer's key, which needs gas.
    const client = publicClientFor(stack.chain)
    const backer = walletFor(DEV_PRIVATE_KEYS[2]!, stack.chain)
    await client.waitForTransactionReceipt({
      hash: await backer.sendTransaction({ to: worker, value: parseEther('0.01') }),
    })
    const unstaked = await stake(['--unstake', '0.2'])
    expect(unstaked.code).toBe(0)
    expect(unstaked.json).toMatchObject({
      active: parseEther('0.3').toString(),
      unstaking: parseEther('0.2').toString(),
    })
    expect((await stake(['--unstake', '1'])).stderr).toMatch(/InsufficientStake/)
    const early = await stake(['--withdraw'])
    expect(early.code).toBe(1)
    expect(early.stderr).toMatch(/StakeLocked/)

    const test = createTestClient({ mode: 'anvil', transport: http(stack.chain.rpcUrl) })
    await test.increaseTime({ seconds: 3 * 24 * 3600 })
    await test.mine({ blocks: 1 })
    const balance = await client.getBalance({ address: worker })
    const paid = await stake(['--withdraw'])
    expect(paid.json).toMatchObject({ unstaking: '0', active: parseEther('0.3').toString() })
    // Paid by the backer's key: the volunteer receives exactly the unstaked 0.2 ETH.
    expect(await client.getBalance({ address: worker })).toBe(balance + parseEther('0.2'))
  })

  it.each([['submit'], ['volunteer'], ['stake']])('%s --help prints its options', async (cmd) => {
    const r = await meshwork([cmd, '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`Usage: meshwork ${cmd}`))
  })

  it('rejects an unknown command with the usage', async () => {
    const r = await meshwork(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/Unknown command "frobnicate"/)
  })
})

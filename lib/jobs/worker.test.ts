import { describe, expect, it } from 'vitest'
import { WEBGPU_UNPAID_DEMOTE, webgpuUnpaid } from './worker'

// A coordinator never says that a WebGPU answer was wrong (that would tell which task was a
// check); it stops counting that path. The worker reads it from its claim: results decided and
// not paid since its pay last grew.
describe('webgpuUnpaid', () => {
  it('switches once enough decided results went unpaid since the claim last grew', () => {
    expect(webgpuUnpaid({ decided: WEBGPU_UNPAID_DEMOTE, results: 0 }, 0)).toBe(true)
    // A long-paid worker notices as soon as a fresh one (red-team F8: a share of the whole job
    // needed 200 unpaid after 100 paid, far beyond MAX_UNPAID).
    expect(webgpuUnpaid({ decided: 103, results: 100 }, 0)).toBe(true)
  })

  it('keeps a WebGPU path whose unpaid results came before its last pay, or are too few', () => {
    expect(webgpuUnpaid({ decided: WEBGPU_UNPAID_DEMOTE - 1, results: 0 }, 0)).toBe(false)
    // Three dissents long ago, paid since: counted from the last pay, not the job's start.
    expect(webgpuUnpaid({ decided: 43, results: 40 }, 3)).toBe(false)
    expect(webgpuUnpaid({ decided: 45, results: 40 }, 3)).toBe(false)
    expect(webgpuUnpaid({ decided: 46, results: 40 }, 3)).toBe(true)
  })
})

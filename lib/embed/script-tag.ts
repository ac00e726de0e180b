/**
 * /embed.js: the one-tag embed. Reads the script element's data attributes, starts one volunteer
 * (loader.ts) and exposes it as `window.meshwork`:
 *
 *   <script src="https://HOST/embed.js" data-consent="frame" data-duty="0.5" async></script>
 *
 * Attributes (all optional): data-consent ("frame", or "host": the page asks in its own UI and
 * calls `meshwork.consent(true)`), data-relay (comma-separated multiaddrs), data-threads,
 * data-duty, data-hidden-duty, data-pause-on-battery ("false" to run on battery too),
 * data-container (CSS selector), data-payout (address the pay goes to). Each status also fires a `meshwork:status` event on window.
 */
import { type EmbeddedVolunteer, type EmbedStatus, startVolunteer } from './loader'

declare global {
  interface Window {
    meshwork?: {
      volunteer: EmbeddedVolunteer
      /** With data-consent="host": the visitor's answer to your page's question. */
      consent(granted: boolean): void
      stop(): Promise<void>
    }
  }
}

const script = document.currentScript as HTMLScriptElement | null
const data = script?.dataset ?? {}
const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v))

let answer: (granted: boolean) => void = () => {}
const hostAnswer = new Promise<boolean>((resolve) => {
  answer = resolve
})

const start = () => {
  try {
    const volunteer = startVolunteer({
      consent: data.consent === 'host' ? () => hostAnswer : 'frame',
      relays: data.relay
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      threads: num(data.threads),
      dutyCycle: num(data.duty),
      hiddenDutyCycle: num(data.hiddenDuty),
      pauseOnBattery:
        data.pauseOnBattery === undefined ? undefined : data.pauseOnBattery !== 'false',
      container: data.container,
      payout: data.payout || undefined,
      onStatus: (status: EmbedStatus) => {
        window.dispatchEvent(new CustomEvent('meshwork:status', { detail: status }))
      },
    })
    window.meshwork = {
      volunteer,
      consent: (granted) => answer(granted),
      stop: () => volunteer.stop(),
    }
  } catch (err) {
    console.error(err)
  }
}

// The frame needs a body to go into.
if (document.body) start()
else document.addEventListener('DOMContentLoaded', start, { once: true })

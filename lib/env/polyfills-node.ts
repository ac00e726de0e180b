/**
 * Node 20 polyfills, loaded before anything that starts libp2p (`node --import`, vitest setup,
 * the CLI entry). libp2p 3 calls `Promise.withResolvers` (Node 22+), and its WebSocket transport
 * dials through the global `WebSocket`, which Node 20 only has behind a flag. Node 22+ needs
 * neither, and then this module changes nothing.
 */
import { WebSocket as WsWebSocket } from 'ws'

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor) {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

/**
 * ws's WebSocket is an EventEmitter, so an `error` nobody listens to is thrown as an uncaught
 * exception; a browser's WebSocket (an EventTarget) never throws for one. libp2p's WebSocket
 * dialer stops listening when a dial is aborted, so a connection refused just after an abort
 * (a node stopping while it redials a relay that is down) crashed the Node process. This one
 * behaves like the browser's: an error with no other listener is dropped (the dial has already
 * failed on its own).
 */
export class BrowserLikeWebSocket extends WsWebSocket {
  constructor(...args: ConstructorParameters<typeof WsWebSocket>) {
    super(...args)
    this.on('error', () => {})
  }
}

if (typeof globalThis.WebSocket === 'undefined') {
  Object.defineProperty(globalThis, 'WebSocket', {
    configurable: true,
    writable: true,
    value: BrowserLikeWebSocket,
  })
}

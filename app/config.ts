import 'server-only'
import { type EmbedPolicyResult, parseEmbedOrigins } from '../lib/embed/origins'
import { type AppConfigResult, appConfigFromEnv } from '../lib/env/app-config'

/** The network configuration, read from the environment on each request (see lib/env/app-config). */
export function readAppConfig(): AppConfigResult {
  return appConfigFromEnv(process.env)
}

/**
 * Which sites may embed /embed (`MESHWORK_EMBED_ORIGINS`, see lib/embed/origins.ts), read on
 * each request like the rest; proxy.ts reads the same variable for the frame-ancestors header.
 */
export function readEmbedPolicy(): EmbedPolicyResult {
  return parseEmbedOrigins(process.env.MESHWORK_EMBED_ORIGINS, process.env.MESHWORK_DEV === '1')
}

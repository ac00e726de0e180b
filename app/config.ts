import 'server-only'
import { type AppConfigResult, appConfigFromEnv } from '../lib/env/app-config'

/** The network configuration, read from the environment on each request (see lib/env/app-config). */
export function readAppConfig(): AppConfigResult {
  return appConfigFromEnv(process.env)
}

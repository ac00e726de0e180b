import { EmbedPage } from '../_components/client-only'
import { NotConfigured } from '../_components/not-configured'
import { readAppConfig, readEmbedPolicy } from '../config'

export const dynamic = 'force-dynamic'

/** The frame that /embed.js puts into other sites' pages (lib/embed). No site header. */
export default function Page() {
  const result = readAppConfig()
  if (!result.ok) return <NotConfigured missing={result.missing} />
  return <EmbedPage config={result.config} embed={readEmbedPolicy()} />
}

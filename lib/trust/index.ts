export * from './closeness'
export * from './replication'
export * from './reputation'
export * from './settings'

import type { MetadataReader } from '../../core/tool.ts'

// What the mutation specs read and change through. The admin API is the only way anything is
// changed; etcd is read only, for what the broker will do to keys the admin API does not show
// (KafScale's prefix deletes).

export interface AdminTopic {
  partitions: number
  replicationFactor: number
}

export interface AdminConfigEntry {
  name: string
  value: string | null
  /** Set on the topic itself (a dynamic topic config), as opposed to a default. */
  topicSet: boolean
  readOnly: boolean
}

export interface AdminGroup {
  state: string
  members: Array<{ memberId: string, clientId: string, clientHost: string }>
}

/** The Kafka admin API as the specs use it (lib/kafscale/admin.ts). */
export interface AdminApi {
  /** 'kafscale' when the broker lacks IncrementalAlterConfigs (KafScale's broker), else 'kafka'. */
  flavor: () => Promise<'kafscale' | 'kafka'>
  /** Every topic, from a Metadata request that names none (naming one auto-creates it on KafScale). */
  listTopics: () => Promise<Map<string, AdminTopic>>
  brokerCount: () => Promise<number>
  describeTopicConfig: (topic: string) => Promise<AdminConfigEntry[]>
  /** undefined when the broker does not know the group. */
  describeGroup: (groupId: string) => Promise<AdminGroup | undefined>
  groupOffsets: (groupId: string) => Promise<Array<{ topic: string, partition: number, offset: number }>>
  createTopic: (spec: { topic: string, partitions: number, replicationFactor: number }) => Promise<unknown>
  deleteTopic: (topic: string) => Promise<unknown>
  createPartitions: (topic: string, totalCount: number) => Promise<unknown>
  /** Legacy AlterConfigs: the full set of the topic's own entries (a key left out returns to its default on Apache Kafka). */
  alterTopicConfig: (topic: string, entries: Record<string, string>) => Promise<unknown>
  deleteGroup: (groupId: string) => Promise<unknown>
}

export interface MutationDeps {
  admin: AdminApi
  /** KafScale's etcd, when configured: the snapshot and the keys a change will touch. */
  store: MetadataReader | undefined
}

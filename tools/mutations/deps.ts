import type { MetadataReader } from '../../core/tool.ts'
import type { GroupDescription, KafkaAdmin } from '../../lib/kafscale/admin.ts'
import { isBrokerRefusal } from '../../lib/kafscale/admin-errors.ts'
import type { BrokerControlPool } from '../../lib/kafscale/control.ts'

// What the mutation specs read and change through. The admin API and the brokers' control plane
// are the only ways anything is changed; etcd is read only, for what the broker will do to keys
// the admin API does not show (KafScale's prefix deletes) and for who leads which partition.

/** The Kafka admin API as the specs use it (lib/kafscale/admin.ts). */
export type AdminApi = Pick<KafkaAdmin, 'flavor' | 'listTopics' | 'brokers' | 'describeTopicConfig' | 'describeGroup' | 'groupOffsets' |
'createTopic' | 'deleteTopic' | 'createPartitions' | 'alterTopicConfig' | 'deleteGroup'>

export interface MutationDeps {
  admin: AdminApi
  /** KafScale's etcd, when configured: the snapshot and the keys a change will touch. */
  store: MetadataReader | undefined
  /** The brokers' gRPC control plane, when configured: drains and flushes. */
  control: BrokerControlPool | undefined
}

const GROUP_ID_NOT_FOUND = 69

/** The group as its coordinator describes it, or undefined when it does not know it. */
export async function knownGroup (admin: AdminApi, groupId: string): Promise<GroupDescription | undefined> {
  try {
    return await admin.describeGroup(groupId)
  } catch (err) {
    if (isBrokerRefusal(err, GROUP_ID_NOT_FOUND)) return undefined
    throw err
  }
}

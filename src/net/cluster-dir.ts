import { type Cluster, parseCluster } from './cluster-file.ts';
import { type Changes, YamlDir, type YamlDirOptions } from './yaml-dir.ts';

export type ClusterChanges = Changes<Cluster>;

/** The clusters dir: one cluster per file (docs/format.md §15). */
export class ClusterDir extends YamlDir<Cluster> {
  constructor(opts: YamlDirOptions<Cluster>) {
    super({ what: 'cluster', parse: parseCluster }, opts);
  }
}

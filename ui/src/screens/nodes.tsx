import { get } from '../api';
import { ErrorNote, useLoad } from '../components';
import type { Me, PoolState } from '../types';
import { PoolSection } from './overview';

export function NodesScreen(props: { me: Me }) {
  const { data, error, reload } = useLoad(() => get<PoolState>('/worker-pool/state'), [], 5000);
  return (
    <>
      <h1>Nodes</h1>
      <ErrorNote error={error} />
      {data ? (
        <PoolSection pool={data} control={props.me.scopes.includes('pool:control')} onChange={reload} />
      ) : null}
    </>
  );
}

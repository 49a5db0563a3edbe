// The part of node-zookeeper-client (a CommonJS module without types) the election uses.
declare module 'node-zookeeper-client' {
  import type { EventEmitter } from 'node:events';

  namespace zookeeper {
    interface ZkError extends Error {
      getCode(): number;
      getName(): string;
    }
    interface ZkEvent {
      getType(): number;
      getName(): string;
      getPath(): string;
    }
    interface Stat {
      version: number;
    }
    type Watcher = (event: ZkEvent) => void;
    interface Client extends EventEmitter {
      connect(): void;
      close(): void;
      getSessionTimeout(): number;
      create(
        path: string,
        data: Buffer | null,
        mode: number,
        callback: (error: ZkError | null, path: string) => void,
      ): void;
      mkdirp(path: string, callback: (error: ZkError | null, path: string) => void): void;
      getChildren(
        path: string,
        watcher: Watcher | null,
        callback: (error: ZkError | null, children: string[], stat: Stat) => void,
      ): void;
      getChildren(
        path: string,
        callback: (error: ZkError | null, children: string[], stat: Stat) => void,
      ): void;
      exists(
        path: string,
        watcher: Watcher | null,
        callback: (error: ZkError | null, stat: Stat | null) => void,
      ): void;
      getData(
        path: string,
        callback: (error: ZkError | null, data: Buffer | undefined, stat: Stat) => void,
      ): void;
      remove(path: string, version: number, callback: (error: ZkError | null) => void): void;
    }
    interface ClientOptions {
      sessionTimeout?: number;
      spinDelay?: number;
      retries?: number;
    }
  }

  const zookeeper: {
    createClient(connectionString: string, options?: zookeeper.ClientOptions): zookeeper.Client;
    CreateMode: {
      PERSISTENT: number;
      PERSISTENT_SEQUENTIAL: number;
      EPHEMERAL: number;
      EPHEMERAL_SEQUENTIAL: number;
    };
    Event: {
      NODE_CREATED: number;
      NODE_DELETED: number;
      NODE_DATA_CHANGED: number;
      NODE_CHILDREN_CHANGED: number;
    };
    Exception: { NO_NODE: number; NODE_EXISTS: number; CONNECTION_LOSS: number; SESSION_EXPIRED: number };
  };
  export = zookeeper;
}

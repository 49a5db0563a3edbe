// The caller's SSH public keys (inventory /keys/): listed with their fingerprints (as ssh-keygen -l prints
// them), added by pasting a .pub line, deleted. A VM is created with some of them (the create form).
import { useState } from 'react';
import { inv, enc, type SshKey } from '../api.ts';
import { useResource } from '../hooks.ts';
import {
  Button,
  Card,
  Confirm,
  Empty,
  ErrorBanner,
  Field,
  Form,
  FormError,
  Loading,
  PageHeader,
  Table,
  TextField,
  useAction,
  useToast,
} from '../ui.tsx';

export const loadKeys = () => inv.get<{ keys: SshKey[] }>('/keys/').then((r) => r.keys);

export function KeysPage() {
  const keys = useResource(loadKeys, 'keys');
  const toast = useToast();
  const [name, setName] = useState('');
  const [publicKey, setPublicKey] = useState('');
  const [deleting, setDeleting] = useState<string | undefined>();
  const add = useAction(async () => {
    const k = await inv.post<SshKey>('/keys/', { name, public_key: publicKey.trim() });
    toast('ok', `Key ${k.name} added (${k.fingerprint})`);
    setName('');
    setPublicKey('');
    keys.reload();
  });
  return (
    <>
      <PageHeader
        title="SSH keys"
        subtitle="Your public keys. A VM created with one of them lets it log in as root; without a password, password SSH is off."
      />
      <div className="grid-2">
        <Card title="Your keys">
          <ErrorBanner error={keys.error} onRetry={keys.reload} />
          {!keys.data && keys.loading ? <Loading /> : null}
          <Table
            rows={keys.data ?? []}
            rowKey={(k) => k.name}
            rowProps={(k) => ({ 'data-testid': `key-${k.name}` })}
            empty={
              keys.data ? (
                <Empty icon="lock" title="No key yet">
                  Add the public half of a key pair (the contents of ~/.ssh/id_ed25519.pub).
                </Empty>
              ) : null
            }
            columns={[
              { key: 'name', label: 'Name', render: (k) => <strong>{k.name}</strong> },
              { key: 'type', label: 'Type', render: (k) => `${k.type} (${k.bits})` },
              {
                key: 'fp',
                label: 'Fingerprint',
                render: (k) => <code className="small">{k.fingerprint}</code>,
              },
              {
                key: 'comment',
                label: 'Comment',
                render: (k) => k.comment || <span className="muted">—</span>,
              },
              {
                key: 'actions',
                label: '',
                render: (k) => (
                  <Button
                    variant="ghost"
                    icon="trash"
                    aria-label={`Delete key ${k.name}`}
                    onClick={() => setDeleting(k.name)}
                  />
                ),
              },
            ]}
          />
        </Card>
        <Card title="Add a key">
          <Form onSubmit={() => void add.run()}>
            <FormError error={add.error} fields={['name', 'public_key']} />
            <TextField
              label="Name"
              name="name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              error={add.error}
              placeholder="e.g. laptop"
            />
            <Field
              label="Public key"
              name="public_key"
              error={add.error}
              hint="One line: ssh-ed25519 AAAA… comment (ed25519, ECDSA or RSA of 2048 bits or more)."
            >
              {(p) => (
                <textarea
                  className="input mono"
                  rows={4}
                  {...p}
                  value={publicKey}
                  onChange={(e) => setPublicKey(e.target.value)}
                  placeholder="ssh-ed25519 AAAA… you@host"
                  spellCheck={false}
                />
              )}
            </Field>
            <Button type="submit" variant="primary" icon="plus" busy={add.busy} data-testid="add-key-submit">
              Add key
            </Button>
          </Form>
        </Card>
      </div>
      {deleting ? (
        <Confirm
          title={`Delete key ${deleting}?`}
          body={<p>VMs created with it keep it in their authorized keys.</p>}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await inv.del(`/keys/${enc(deleting)}/`);
            toast('ok', `Key ${deleting} deleted`);
            keys.reload();
          }}
        />
      ) : null}
    </>
  );
}

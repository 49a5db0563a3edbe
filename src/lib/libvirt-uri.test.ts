import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertLibvirtUri, libvirtUriProblem } from './libvirt-uri.ts';

const lab =
  'qemu+libssh://root@10.213.0.11/system?keyfile=/tmp/kloudak-lab-test/id_ed25519&known_hosts=/tmp/kloudak-lab-test/known_hosts&known_hosts_verify=normal&sshauth=privkey';

test('the URIs the platform sets are accepted', () => {
  for (const ok of [
    lab,
    'qemu+ssh://root@10.0.0.11/system',
    'qemu+ssh://kvm.example.org/system?keyfile=/etc/kloudak/id_ed25519&no_tty=1',
    'qemu+libssh://root@[fd00::1]/system?sshauth=agent,privkey',
    'qemu+ssh://root@10.0.0.11:2222/system',
  ])
    assert.equal(libvirtUriProblem(ok), undefined, ok);
});

test('host key checks cannot be turned off, programs cannot be named, other transports are refused', () => {
  const refused: [string, RegExp][] = [
    [lab.replace('known_hosts_verify=normal', 'known_hosts_verify=ignore'), /known_hosts_verify/],
    [lab.replace('known_hosts_verify=normal', 'known_hosts_verify=auto'), /known_hosts_verify/],
    [`${lab}&no_verify=1`, /no_verify/],
    ['qemu+ssh://root@h/system?no_verify=1', /no_verify/],
    ['qemu+ssh://root@h/system?netcat=/tmp/evil', /netcat/],
    ['qemu+ssh://root@h/system?proxy=netcat', /proxy/],
    ['qemu+ssh://root@h/system?socket=/tmp/s', /socket/],
    ['qemu+ext:///system?command=/bin/sh', /transport qemu\+ext/],
    ['qemu+tcp://h/system', /transport qemu\+tcp/],
    ['qemu+tls://h/system', /transport qemu\+tls/],
    ['qemu+unix:///system', /transport/],
    ['qemu:///system', /transport qemu /],
    ['test:///default', /transport test /],
    ['qemu+ssh:///system', /host/],
    ['qemu+ssh://root:pw@h/system', /password/],
    ['qemu+ssh://root@h/session', /path/],
    ['qemu+ssh://root@h/system#x', /fragment/],
    ['qemu+ssh://root@h/system?keyfile=relative', /keyfile/],
    ['qemu+ssh://root@h/system?keyfile=/a/../etc/shadow', /keyfile/],
    ['qemu+ssh://root@h/system?keyfile=/a&keyfile=/b', /twice/],
    ['qemu+ssh://-oProxyCommand=x@h/system', /user/],
    ['not a uri', /not a URI/],
  ];
  for (const [uri, why] of refused) {
    assert.match(libvirtUriProblem(uri) ?? 'accepted', why, uri);
    assert.throws(() => assertLibvirtUri(uri), /refusing libvirt URI/);
  }
});

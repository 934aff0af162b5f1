// `condis run --pcap`: every delivered frame is in the file once; pair 1's keep their VID.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter } from '../../lib/pcap';
import { runMain, tshark, vidCounts } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-pcap-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('pcap capture', () => {
  const file = path.join(dir, 'run.pcap');

  it('condis run --backend wire --pcap: every frame written', async () => {
    const r = await runMain(['run', '--backend', 'wire', '--frames', '3000', '--pcap', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pcap: 6600 frames/);
  }, 60_000);

  it('tshark reads it back: frame counts and VIDs as on the wire', (ctx) => {
    if (!tshark('run --pcap')) return ctx.skip('tshark is not installed (Debian package tshark)');
    expect(fs.existsSync(file)).toBe(true);
    expect(vidCounts(file)).toEqual(
      new Map([
        ['', 6000],
        ['42', 600],
      ]),
    );
  });

  it('the writer re-inserts the 802.1Q tag and flushes in chunks', () => {
    const file = path.join(dir, 'w.pcap');
    const w = new PcapWriter(file, 128 << 10); // small buffer: forces several flushes
    const frame = new Uint8Array(100).fill(0xab);
    frame.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x88, 0xb5]);
    for (let i = 0; i < 3000; i++) w.capture(frame, 0, frame.length, i % 3 === 0 ? 7 : 0);
    w.close();
    const b = fs.readFileSync(file);
    expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(b.length).toBe(24 + 3000 * 16 + 2000 * 100 + 1000 * 104);
    // First record is tagged: 12 MAC bytes, 0x8100, TCI = 7, then the original ethertype.
    const rec = b.subarray(24 + 16, 24 + 16 + 18);
    expect([...rec.subarray(12, 18)]).toEqual([0x81, 0x00, 0x00, 0x07, 0x88, 0xb5]);
    expect(b.readUInt32LE(24 + 8)).toBe(104);
  });
});

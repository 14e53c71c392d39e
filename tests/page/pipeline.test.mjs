// Node's test runner over the page's pipeline: `node --test page/tests/`. The golden comparison
// needs the fixtures Python writes (python tests/golden.py DIR, then FER_GOLDEN=DIR); pytest's
// tests/test_web.py writes them and runs this file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import {fileURLToPath} from 'node:url';

import * as ort from '../../fer_model/page/vendor/onnxruntime-web/ort.wasm.min.mjs';
import {cropFace, pyRound, resizeBilinear} from '../../fer_model/page/fer/preprocess.js';
import {FaceTracker} from '../../fer_model/page/fer/tracking.js';
import {checkGolden, compare, failures} from './golden.mjs';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = fileURLToPath(new URL('../../fer_model/page/vendor/onnxruntime-web/', import.meta.url));

test('the golden comparison fails on NaN and on a shorter array, not only on large differences', () => {
  const fresh = () => ({faces: 1, sameLabel: 1, box: 0, pixel: 0, probability: 0, problems: [], webcamFaces: 0});
  const agreeing = fresh();
  compare(agreeing, 'probability', [0.25, 0.75], [0.2501, 0.7499], 'photo');
  assert.deepEqual(failures(agreeing), []);
  for (const got of [[0.25, NaN], [0.25], undefined, [Infinity, 0.75]]) {
    const report = fresh();
    compare(report, 'probability', [0.25, 0.75], got, 'photo');
    assert.equal(failures(report).length, 1, String(got));
  }
});

test('halves round to the even neighbour, as Python rounds', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001].map(pyRound), [0, 2, 2, 0, -2, 2, 3]);
});

test('a crop past the image edge repeats the edge pixels', () => {
  const gray = Uint8Array.from([1, 2, 3, 4]);  // 2x2
  const [crop, side] = cropFace(gray, 2, 2, {x: 0, y: 0, w: 2, h: 2}, 2, [0, 0]);
  assert.equal(side, 4);
  assert.deepEqual(Array.from(crop), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  assert.throws(() => cropFace(gray, 2, 2, {x: 10, y: 10, w: 2, h: 2}, 1, [0, 0]), /lies outside the 2x2 image/);
});

test('resizing to the same size copies, shrinking averages', () => {
  const flat = new Uint8Array(16).fill(80);
  assert.deepEqual(Array.from(resizeBilinear(flat, 4, 4, 2, 2)), [80, 80, 80, 80]);
  const ramp = Uint8Array.from([0, 100, 200, 255]);
  assert.deepEqual(Array.from(resizeBilinear(ramp, 4, 1, 4, 1)), [0, 100, 200, 255]);
});

test('the tracker keeps a number on an overlapping box and blends with the past', () => {
  const tracker = new FaceTracker();
  const face = (x, p) => ({box: {x, y: 0, w: 10, h: 10}, probabilities: [p, 1 - p], faceFound: true});
  const [first] = tracker.update([face(0, 1)], 0.5);
  const [second] = tracker.update([face(1, 0)], 0.5);
  assert.equal(first.number, 1);
  assert.equal(second.number, 1);
  assert.deepEqual(second.probabilities, [0.5, 0.5]);
  const [third] = tracker.update([face(50, 0)], 0.5);
  assert.equal(third.number, 2);
});

const golden = process.env.FER_GOLDEN;
test('the page gives what Python gives on the golden photos and webcam frames',
     {skip: golden ? false : 'FER_GOLDEN is not set (write the fixtures: python tests/golden.py DIR)'}, async () => {
  const fixtures = JSON.parse(fs.readFileSync(path.join(golden, 'golden.json')));
  const loadModel = async name => {  // the files of the folder, and the processor Python resolved
    const {folder: dir, processor} = fixtures.models[name];
    const json = file => JSON.parse(fs.readFileSync(path.join(dir, file)));
    return {config: json('config.json'), processor,
            graph: fs.readFileSync(path.join(dir, 'model.onnx')), weights: fs.readFileSync(path.join(dir, 'model.safetensors'))};
  };
  const report = await checkGolden(ort, fixtures, loadModel, fs.readFileSync(fixtures.yunet),
                                   async file => fs.readFileSync(path.join(golden, file)));
  console.log(JSON.stringify({...report, problems: report.problems.slice(0, 20)}));
  assert.deepEqual(failures(report), []);
});

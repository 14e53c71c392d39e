"""The live path: per-face smoothing, drawing, and the webcam handler with Grad-CAM on and off."""

import numpy as np
import pytest
from PIL import Image

from fer_model import FER2013_LABELS, FacePrediction
from fer_model.vision.render import annotate, face_colour, probability_bars
from fer_model.vision.tracking import FaceTracker

from conftest import ASTRONAUT, ASTRONAUT_GRID


def _face(box, top, found=True, saliency=None):
    probabilities = {label: (0.7 if label == top else 0.05) for label in FER2013_LABELS}
    return FacePrediction(box, top, probabilities, found, saliency)


def _smooth(tracker, faces, keep):
    return [face for _, face in tracker.update(faces, keep)]


def test_smoothing_is_an_exponential_moving_average():
    tracker = FaceTracker()
    first = _smooth(tracker, [_face((10, 10, 50, 50), "happy")], keep=0.6)
    assert first[0].probabilities["happy"] == pytest.approx(0.7)  # nothing to blend with yet
    second = _smooth(tracker, [_face((12, 10, 50, 50), "sad")], keep=0.6)
    assert second[0].probabilities["happy"] == pytest.approx(0.6 * 0.7 + 0.4 * 0.05)
    assert second[0].probabilities["sad"] == pytest.approx(0.6 * 0.05 + 0.4 * 0.7)
    assert second[0].label == "happy"  # the past still outweighs one frame
    third = _smooth(tracker, [_face((12, 10, 50, 50), "sad")], keep=0.0)
    assert third[0].probabilities["sad"] == pytest.approx(0.7)  # keep 0: no smoothing
    assert sum(second[0].probabilities.values()) == pytest.approx(1.0)


def test_tracks_follow_faces_by_overlap_and_handle_arrivals_and_departures():
    tracker = FaceTracker(keep=0.5)
    assert [n for n, _ in tracker.update([_face((0, 0, 40, 40), "happy"), _face((200, 0, 40, 40), "angry")])] == [1, 2]
    # the faces swap order in the list; each continues its own track, number and average
    swapped = tracker.update([_face((202, 0, 40, 40), "neutral"), _face((2, 0, 40, 40), "neutral")])
    assert [n for n, _ in swapped] == [2, 1]
    assert swapped[0][1].probabilities["angry"] == pytest.approx(0.5 * 0.7 + 0.5 * 0.05)
    assert swapped[1][1].probabilities["happy"] == pytest.approx(0.5 * 0.7 + 0.5 * 0.05)
    # one face leaves, a new one arrives far away: the newcomer starts fresh with the next number
    later = tracker.update([_face((400, 300, 40, 40), "fear")])
    assert later[0][0] == 3 and later[0][1].probabilities["fear"] == pytest.approx(0.7)
    # a whole-image prediction (no face found) gets no number and is never blended
    whole = tracker.update([_face((400, 300, 40, 40), "sad", found=False)])
    assert whole[0][0] is None and whole[0][1].probabilities["sad"] == pytest.approx(0.7)


def test_a_one_frame_false_positive_does_not_take_the_real_face_number():
    tracker = FaceTracker()
    real = (100, 100, 80, 80)
    assert [n for n, _ in tracker.update([_face(real, "happy")])] == [1]
    blip = tracker.update([_face((10, 10, 20, 20), "sad"), _face((101, 100, 80, 80), "happy")])
    assert [n for n, _ in blip] == [2, 1]  # listed first, but the real face keeps number 1
    assert [n for n, _ in tracker.update([_face((102, 101, 80, 80), "happy")])] == [1]


def test_a_face_missed_for_a_few_frames_keeps_its_number_and_its_average():
    tracker = FaceTracker(keep=0.5, lost_frames=3)
    assert [n for n, _ in tracker.update([_face((100, 100, 80, 80), "happy")])] == [1]
    for _ in range(3):  # a blink: no face found for three frames
        assert tracker.update([]) == []
    back = tracker.update([_face((104, 100, 80, 80), "sad")])
    assert back[0][0] == 1 and back[0][1].probabilities["happy"] == pytest.approx(0.5 * 0.7 + 0.5 * 0.05)
    for _ in range(4):  # longer than the buffer: the track is given up
        tracker.update([])
    assert tracker.update([_face((100, 100, 80, 80), "happy")])[0][0] == 2


def test_smoothing_keeps_the_saliency_map_and_every_other_field():
    heatmap = np.random.default_rng(0).random((48, 48))
    tracker = FaceTracker(keep=0.5)
    tracker.update([_face((0, 0, 40, 40), "happy")])
    out = _smooth(tracker, [_face((1, 0, 40, 40), "happy", saliency=heatmap)], keep=0.5)
    assert out[0].saliency is heatmap and out[0].box == (1, 0, 40, 40) and out[0].face_found


def test_annotate_draws_numbered_boxes_in_face_colours_and_leaves_the_input_alone():
    frame = np.full((240, 320, 3), 128, dtype=np.uint8)
    faces = [_face((20, 60, 80, 80), "happy"), _face((180, 60, 80, 80), "sad")]
    out = annotate(frame, faces)
    assert out.shape == frame.shape and np.all(frame == 128)
    for number, (x, y, w, h) in enumerate((face.box for face in faces), start=1):
        assert tuple(out[y + h // 2, x]) == face_colour(number)  # the left edge of the box
        assert np.all(out[y + h // 2, x + w // 2] == 128)  # the face itself is not painted over
    whole = annotate(frame, [_face((0, 0, 320, 240), "sad", found=False)])
    assert np.all(whole == 128)  # no box when no face was found


def test_annotate_lays_the_heatmap_over_the_face_only():
    frame = np.full((240, 320, 3), 128, dtype=np.uint8)
    heatmap = np.zeros((48, 48))
    heatmap[:, 24:] = 1.0  # the right half of the face is where the model looked
    out = annotate(frame, [_face((100, 80, 96, 96), "happy", saliency=heatmap)]).astype(int)
    left, right = out[128, 120], out[128, 180]
    assert right[0] > right[2] and left[2] > left[0]  # jet colour map: hot is red, cold is blue
    assert np.all(out[20, 20] == 128)  # outside the box nothing changes


def test_probability_bars_panel_grows_with_the_faces():
    empty = probability_bars([])
    one = probability_bars([_face((0, 0, 10, 10), "happy")])
    three = probability_bars([_face((0, 0, 10, 10), "happy")] * 3)
    assert empty.ndim == 3 and one.shape[0] > empty.shape[0]
    assert three.shape[1] == 2 * one.shape[1]  # more than two faces go in two columns
    assert (one != 255).any()


@pytest.fixture(scope="module")
def demo(untrained_model):
    from fer_model import app

    demo = app.Demo(untrained_model)
    yield demo
    demo.files.close()  # the annotated images it wrote


@pytest.mark.parametrize("show_saliency", [False, True])
def test_the_face_tracker_over_several_webcam_frames(demo, show_saliency):
    frames = [np.asarray(Image.open(path).convert("RGB").resize((640, 480))) for path in (ASTRONAUT, ASTRONAUT_GRID)]
    state, tracked = None, []
    for frame in frames * 3:
        annotated, bars, state = demo.stream(frame, state, 0.6, show_saliency)
        assert annotated.shape == frame.shape and bars.ndim == 3
        tracked.append(len(state.tracks))
    assert max(tracked) >= 1  # faces found are followed
    plain, _, _ = demo.stream(frames[0], None, 0.6, False)
    heat, _, _ = demo.stream(frames[0], None, 0.6, True)
    assert np.abs(plain.astype(int) - heat.astype(int)).sum() > 0  # the overlay shows
    assert demo.stream(None, state, 0.6, show_saliency)[0] is None


def _jpeg_data_url(path, size=(640, 480)) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    Image.open(path).convert("RGB").resize(size).save(buffer, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _decode(data_url: str) -> np.ndarray:
    import base64
    import io

    header, _, data = data_url.partition(",")
    assert header in ("data:image/jpeg;base64", "data:image/png;base64")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


@pytest.mark.parametrize("show_saliency", [False, True])
def test_the_webcam_handler_answers_each_frame_and_keeps_each_pages_smoothing(demo, show_saliency):
    request = {"image": _jpeg_data_url(ASTRONAUT), "client": "page-a", "keep": 0.6, "saliency": show_saliency}
    answer = demo.live_frame(request)
    assert _decode(answer["frame"]).shape == (480, 640, 3) and _decode(answer["bars"]).ndim == 3
    seen = lambda: {number: box for number, (box, _, missed) in demo.live_states["page-a"].tracks.items() if not missed}
    first = seen()
    demo.live_frame({**request, "image": _jpeg_data_url(ASTRONAUT_GRID)})
    assert seen() != first  # the faces seen moved on
    demo.live_frame({**request, "client": "page-b"})
    assert {"page-a", "page-b"} <= set(demo.live_states)


def test_the_webcam_handler_forgets_the_least_recent_pages(demo):
    from fer_model import app

    image = _jpeg_data_url(ASTRONAUT, size=(160, 120))
    for k in range(app.LIVE_CLIENTS + 5):
        demo.live_frame({"image": image, "client": f"page-{k}", "keep": 0.5, "saliency": False})
    assert len(demo.live_states) == app.LIVE_CLIENTS and "page-0" not in demo.live_states


@pytest.mark.parametrize("request_, message", [
    ({"image": "data:image/jpeg;base64,bm90IGEganBlZw==", "client": "x", "keep": 0.5, "saliency": False},
     "not a readable image"),
    ({"image": _jpeg_data_url(ASTRONAUT, size=(2400, 1800)), "client": "x", "keep": 0.5, "saliency": False},
     "2400x1800 pixels"),
    ({"image": "data:image/jpeg;base64,***", "client": "x", "keep": 0.5, "saliency": False}, "Bad webcam request"),
    ({"image": "data:image/jpeg;base64,", "client": "x", "keep": "high", "saliency": False}, "Bad webcam request"),
    ({"client": "x"}, "Bad webcam request"),
    ("not a dict", "Bad webcam request"),
])
def test_the_webcam_handler_names_a_bad_request(demo, request_, message):
    assert message in demo.live_frame(request_)["error"]


@pytest.mark.parametrize("width", [640, 320])
def test_the_page_asks_the_camera_for_the_chosen_frame_size(demo, width):
    # Without constraints browsers (and Gradio's webcam) ask for far larger frames, and every frame
    # would make the round trip at that size.
    from fer_model import app

    config = app.build(demo, webcam_width=width).get_config_file()
    pages = [c["props"] for c in config["components"] if c.get("props", {}).get("elem_id") == "webcam"]
    assert len(pages) == 1 and f'data-width="{width}"' in pages[0]["html_template"]  # what webcam.js reads

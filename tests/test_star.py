"""STAR hand-off: RELION 5, RELION 4 and Warp/M, read and written.

Conventions are checked against what RELION's C++ does (centre = size / 2
pixels, position = coordinate - rotated origin, A = Euler_angles2matrix)
through an independent route: scipy's ZYZ rotations, as copick and
RELION's own Python tools build them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile
import zarr
from scipy.spatial.transform import Rotation

from napari_cryopick import coords
from napari_cryopick import picks as pk
from napari_cryopick.cli import main
from napari_cryopick.io.copick_json import write_picks_json
from napari_cryopick.io.sources import read_picks, tomogram_geometries
from napari_cryopick.io.star import read_star
from napari_cryopick.io.star_common import TomogramGeometry
from napari_cryopick.io.star_write import star_frame, write_star
from tests.test_cli import _fails

DATA = Path(__file__).parent / 'data' / 'star'
CZII_SHAPE = (184, 630, 630)
CZII_VOXEL = 10.012444


def header_only_store(path: Path, shape, voxel: float) -> Path:
    """An NGFF 0.4 store of ``shape`` with no chunk written (metadata only).

    Enough for STAR conversions, which read headers only; a CZII-sized
    tomogram costs a few hundred bytes.
    """
    zarr.create_array(
        store=str(path / '0'),
        shape=shape,
        chunks=tuple(min(256, n) for n in shape),
        dtype='<f4',
        zarr_format=2,
        fill_value=0.0,
    )
    axes = [{'name': n, 'type': 'space', 'unit': 'angstrom'} for n in 'zyx']
    scale = [{'type': 'scale', 'scale': [voxel] * 3}]
    multiscale = {
        'version': '0.4',
        'axes': axes,
        'datasets': [{'path': '0', 'coordinateTransformations': scale}],
    }
    (path / '.zgroup').write_text('{"zarr_format": 2}')
    (path / '.zattrs').write_text(json.dumps({'multiscales': [multiscale]}))
    return path


@pytest.fixture
def czii_tomograms(tmp_path, czii_json_runs) -> Path:
    """A folder of two CZII-sized tomograms named like the real runs."""
    folder = tmp_path / 'tomograms'
    folder.mkdir()
    for run in czii_json_runs:
        header_only_store(folder / f'{run}.zarr', CZII_SHAPE, CZII_VOXEL)
    return folder


@pytest.fixture
def oriented_picks(czii_json_runs, tmp_path) -> Path:
    """The real CZII picks of both runs, given random orientations."""
    table = read_picks(czii_json_runs['TS_5_4'])
    table = pk.concat([table, read_picks(czii_json_runs['TS_99_9'])])
    rotations = Rotation.random(len(table), random_state=7).as_matrix()
    transforms = np.tile(np.eye(4), (len(table), 1, 1))
    transforms[:, :3, :3] = rotations
    table['transformation'] = list(transforms)
    table['score'] = np.linspace(0.1, 0.9, len(table))
    out = tmp_path / 'oriented'
    write_picks_json(table, out, 'curation', '0')
    return out


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    key = ['run', 'particle_type', 'x', 'y', 'z']
    return table.sort_values(key).reset_index(drop=True)


def _assert_same_picks(a, b, position=1e-3, rotation=1e-6):
    a, b = _sorted(a), _sorted(b)
    assert list(a['run']) == list(b['run'])
    assert list(a['particle_type']) == list(b['particle_type'])
    assert np.abs(pk.positions(a) - pk.positions(b)).max() <= position
    ta = np.stack(list(a['transformation']))
    tb = np.stack(list(b['transformation']))
    assert np.abs(ta - tb).max() <= rotation
    assert np.allclose(a['score'], b['score'], atol=1e-6)


# --- conventions -------------------------------------------------------------


def test_euler_angles_follow_relion_and_copick():
    # rot = 90 about z: RELION's A maps the reference x axis to -y (A is
    # Euler_angles2matrix, reference -> tomogram, scipy's inverse).
    a = coords.relion_euler_to_matrix([[90.0, 0.0, 0.0]])[0]
    assert np.allclose(a, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    assert np.allclose(a @ [1, 0, 0], [0, -1, 0])
    tilt = coords.relion_euler_to_matrix([[0.0, 90.0, 0.0]])[0]
    assert np.allclose(tilt @ [0, 0, 1], [-1, 0, 0])
    assert np.allclose(
        coords.relion_euler_to_matrix([[0, 0, 0]])[0], np.eye(3)
    )
    angles = Rotation.random(200, random_state=1).as_euler('ZYZ', degrees=True)
    ours = coords.relion_euler_to_matrix(angles)
    copick = Rotation.from_euler('ZYZ', angles, degrees=True).inv()
    assert np.allclose(ours, copick.as_matrix(), atol=1e-12)
    back = coords.matrix_to_relion_euler(ours)
    assert np.allclose(coords.relion_euler_to_matrix(back), ours, atol=1e-12)
    assert np.all((back[:, 1] >= 0) & (back[:, 1] <= 180))
    # Gimbal lock (tilt 0 or 180) comes back as an equal rotation.
    for lock in ([30.0, 0.0, 20.0], [10.0, 180.0, 45.0]):
        m = coords.relion_euler_to_matrix([lock])
        again = coords.matrix_to_relion_euler(m)
        assert np.allclose(coords.relion_euler_to_matrix(again), m)
    assert coords.matrix_to_relion_euler(np.eye(3)[None]).tolist() == [
        [0.0, 0.0, 0.0]
    ]


def test_centre_is_size_over_two_pixels():
    centre = coords.tomogram_centre(CZII_SHAPE, CZII_VOXEL)
    assert centre == pytest.approx([315 * CZII_VOXEL] * 2 + [92 * CZII_VOXEL])
    # Odd sizes: RELION divides in floating point (45 / 2 = 22.5 voxels).
    odd = coords.tomogram_centre((45, 101, 64), (2.0, 3.0, 4.0))
    assert odd == pytest.approx([32 * 4.0, 50.5 * 3.0, 22.5 * 2.0])


def test_pick_at_the_centre_voxel_is_centred(tmp_path):
    store = header_only_store(tmp_path / 'TS_1.zarr', CZII_SHAPE, CZII_VOXEL)
    middle = (np.array(CZII_SHAPE[::-1]) - 1) / 2 * CZII_VOXEL
    table = pk.make_picks('TS_1', 'ribosome', middle[None])
    frame = star_frame(table, 'relion5', tomogram_geometries(store))
    centred = frame[list(coords_columns())].to_numpy()[0]
    assert np.all(np.abs(centred) <= CZII_VOXEL / 2 + 1e-9)


def coords_columns():
    return [f'rlnCenteredCoordinate{a}Angst' for a in 'XYZ']


def test_origin_shifts_move_particles_as_relion_does(tmp_path):
    # position = coordinate - A_subtomogram @ origin (ParticleSet::
    # getPosition); A from scipy, as RELION's own Python does it.
    frame = pd.DataFrame(
        {
            'rlnTomoName': ['TS_1', 'TS_1'],
            'rlnCenteredCoordinateXAngst': [100.0, 100.0],
            'rlnCenteredCoordinateYAngst': [0.0, 0.0],
            'rlnCenteredCoordinateZAngst': [-50.0, -50.0],
            'rlnOriginXAngst': [10.0, 10.0],
            'rlnOriginYAngst': [0.0, 0.0],
            'rlnOriginZAngst': [2.5, 2.5],
            'rlnTomoSubtomogramRot': [0.0, 90.0],
            'rlnTomoSubtomogramTilt': [0.0, 0.0],
            'rlnTomoSubtomogramPsi': [0.0, 0.0],
        }
    )
    path = tmp_path / 'shifted.star'
    starfile.write({'particles': frame}, path)
    geometry = TomogramGeometry('TS_1', (100, 200, 200), (10.0, 10.0, 10.0))
    table = read_star(path, {'TS_1': geometry})
    centre = np.array([1000.0, 1000.0, 500.0])
    assert pk.positions(table)[0] == pytest.approx(
        centre + [100 - 10, 0, -50 - 2.5]
    )
    sub = Rotation.from_euler('ZYZ', [90, 0, 0], degrees=True).as_matrix().T
    expected = centre + [100, 0, -50] - sub @ [10.0, 0.0, 2.5]
    assert pk.positions(table)[1] == pytest.approx(expected)
    # rot 90 turns the x shift into -y: the particle moves +y.
    assert pk.positions(table)[1] == pytest.approx(centre + [100, 10, -52.5])


# --- round trips -------------------------------------------------------------


def test_json_relion5_json_round_trip(
    oriented_picks, czii_tomograms, tmp_path, capsys
):
    star = tmp_path / 'particles.star'
    argv = ['export', str(oriented_picks), '--to', 'star', str(star)]
    assert main([*argv, '--tomograms', str(czii_tomograms)]) == 0
    back = tmp_path / 'back'
    assert (
        main(
            [
                'export',
                str(star),
                '--to',
                'copick',
                str(back),
                '--tomograms',
                str(czii_tomograms),
            ]
        )
        == 0
    )
    _assert_same_picks(read_picks(oriented_picks), read_picks(back))
    # starfile (the ecosystem's reader) sees RELION 5 particles whose
    # centred coordinates are the positions minus size / 2 voxels.
    frame = starfile.read(star, parse_as_string=['rlnTomoName'])
    assert list(frame.columns[:4]) == ['rlnTomoName', *coords_columns()]
    for column in (
        'rlnAngleRot',
        'rlnClassNumber',
        'rlnAutopickFigureOfMerit',
    ):
        assert column in frame
    original = _sorted(read_picks(oriented_picks))
    frame = frame.sort_values(
        ['rlnTomoName', 'cryopickClassName', 'rlnCenteredCoordinateXAngst']
    )
    half = np.array(CZII_SHAPE[::-1]) / 2 * CZII_VOXEL
    centred = frame[coords_columns()].to_numpy()
    assert np.all(np.abs(centred) <= half)
    assert np.allclose(centred + half, pk.positions(original), atol=1e-5)


def test_json_relion4_json_round_trip(
    oriented_picks, czii_tomograms, tmp_path
):
    star = tmp_path / 'relion4.star'
    assert (
        main(
            [
                'export',
                str(oriented_picks),
                '--to',
                'relion4',
                str(star),
                '--voxel-size',
                '1.35',
            ]
        )
        == 0
    )
    frame = starfile.read(star, parse_as_string=['rlnTomoName'])
    assert 'rlnCoordinateX' in frame
    assert 'rlnCenteredCoordinateXAngst' not in frame
    original = read_picks(oriented_picks)
    assert frame['rlnCoordinateX'].max() == pytest.approx(
        original['x'].max() / 1.35, abs=1e-6
    )
    _assert_same_picks(original, read_picks(star, voxel_size=1.35))
    # Without --voxel-size the tomogram's voxel size is the pixel.
    default = tmp_path / 'default.star'
    argv = ['export', str(oriented_picks), '--to', 'relion4', str(default)]
    assert main([*argv, '--tomograms', str(czii_tomograms)]) == 0
    frame = starfile.read(default, parse_as_string=['rlnTomoName'])
    assert frame['rlnCoordinateX'].max() == pytest.approx(
        original['x'].max() / CZII_VOXEL, abs=1e-6
    )
    _assert_same_picks(original, read_picks(default, tomograms=czii_tomograms))


def test_split_classes_and_score_the_star_back(
    czii_json_runs, czii_tomograms, tmp_path, capsys
):
    picks = czii_json_runs['TS_5_4']
    out = tmp_path / 'star' / 'TS_5_4.star'
    argv = ['export', str(picks), '--to', 'star', str(out), '--split-classes']
    assert main([*argv, '--tomograms', str(czii_tomograms)]) == 0
    files = sorted(p.name for p in out.parent.iterdir())
    assert files == [f'TS_5_4_{n}.star' for n in sorted(_classes(picks))]
    ribosome = starfile.read(out.parent / 'TS_5_4_ribosome.star')
    assert len(ribosome) == 31
    assert set(ribosome['rlnClassNumber']) == {4}
    capsys.readouterr()
    argv = ['score', str(picks), str(out.parent)]
    assert main([*argv, '--tomograms', str(czii_tomograms)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == 'score: 1.0000'


def _classes(folder: Path) -> list[str]:
    return [p.stem for p in folder.glob('*.json')]


# --- real files --------------------------------------------------------------


def test_real_relion5_file_reads_to_relion_positions(tmp_path):
    # RELION 5 Class3D output (tutorial data set, tilt-series pixel
    # 1.35 Å), with origins and pseudo-subtomogram angles.
    tomograms = tmp_path / 'tomograms.star'
    starfile.write(
        {
            'global': pd.DataFrame(
                {
                    'rlnTomoName': ['TS_01'],
                    'rlnTomoSizeX': [4000],
                    'rlnTomoSizeY': [4000],
                    'rlnTomoSizeZ': [2000],
                    'rlnTomoTiltSeriesPixelSize': [1.35],
                }
            )
        },
        tomograms,
    )
    path = DATA / 'relion5_run_it025_data.star'
    table = read_picks(path, tomograms=tomograms)
    assert len(table) == 5
    assert set(table['run']) == {'TS_01'}
    # Particle TS_01/10, its numbers copied from the file.
    centred = np.array([1685.003906, -864.92243, 1127.482232])
    origin = np.array([1.642283, 1.642283, -1.05772])
    sub = Rotation.from_euler(
        'ZYZ', [166.718247, 91.264576, -107.08894], degrees=True
    ).as_matrix()
    expected = centred + np.array([2000, 2000, 1000]) * 1.35 - sub.T @ origin
    assert pk.positions(table)[3] == pytest.approx(expected, abs=1e-6)
    particle = Rotation.from_euler(
        'ZYZ', [6.033145, 96.181082, 4.708231], degrees=True
    ).as_matrix()
    rotation = np.asarray(table['transformation'][3])[:3, :3]
    assert np.allclose(rotation, sub.T @ particle.T, atol=1e-9)
    # rlnClassNumber 4 through the CZII table.
    assert set(table['particle_type']) == {'ribosome'}
    # A RELION job folder reads as its particle files only.
    job = tmp_path / 'Class3D'
    job.mkdir()
    (job / 'run_it025_data.star').write_bytes(path.read_bytes())
    (job / 'run_it025_optimiser.star').write_text(
        'data_optimiser_general\n\n_rlnOutputRootName Class3D/run\n'
    )
    (job / 'tomograms.star').write_bytes(tomograms.read_bytes())
    again = read_picks(job, tomograms=job / 'tomograms.star')
    assert np.array_equal(pk.positions(again), pk.positions(table))


def test_relion_job_finds_its_tomogram_set(tmp_path):
    # RELION paths are relative to the project folder: an optimisation set
    # beside the particles names the tomogram set.
    from napari_cryopick._reader import get_picks_reader

    job = tmp_path / 'Class3D' / 'job012'
    job.mkdir(parents=True)
    data = job / 'run_it025_data.star'
    data.write_bytes((DATA / 'relion5_run_it025_data.star').read_bytes())
    (job / 'run_it025_optimisation_set.star').write_text(
        'data_\n\n_rlnTomoParticlesFile Class3D/job012/run_it025_data.star\n'
        '_rlnTomoTomogramsFile Tomograms/job005/tomograms.star\n'
    )
    tomograms = tmp_path / 'Tomograms' / 'job005' / 'tomograms.star'
    tomograms.parent.mkdir(parents=True)
    tomograms.write_text(
        'data_global\n\nloop_\n_rlnTomoName #1\n_rlnTomoSizeX #2\n'
        '_rlnTomoSizeY #3\n_rlnTomoSizeZ #4\n'
        '_rlnTomoTiltSeriesPixelSize #5\nTS_01 4000 4000 2000 1.35\n'
    )
    expected = read_picks(data, tomograms=tomograms)
    via_set = read_picks(
        data, tomograms=job / 'run_it025_optimisation_set.star'
    )
    assert np.array_equal(pk.positions(via_set), pk.positions(expected))
    (layer,) = get_picks_reader(str(data))(str(data))
    zyx = layer[0] * np.asarray(layer[1]['scale'])
    assert np.allclose(zyx[:, ::-1], pk.positions(expected))


def test_real_relion4_file(tmp_path):
    # Pixel coordinates with rlnTomoName and Å origins, as the CZII data
    # portal's ingestion tests hold them (no pixel size in the file).
    path = DATA / 'relion4_portal_test.star'
    table = read_picks(path, voxel_size=2.0)
    assert list(table['run']) == ['TS_001'] * 2 + ['TS_002'] * 3 + ['TS_003']
    # TS_001 particle 91: (4, 8, 12) px of 2 Å, minus origin (-1.2, -2.4,
    # -3.2) Å.
    assert pk.positions(table)[0] == pytest.approx([9.2, 18.4, 27.2])
    angles = [90, 45, 180]
    expected = Rotation.from_euler('ZYZ', angles, degrees=True).inv()
    rotation = np.asarray(table['transformation'][0])[:3, :3]
    assert np.allclose(rotation, expected.as_matrix())


def test_real_warp_file(tmp_path):
    # Warp/M subtomogram export (rlnMicrographName TS.mrc.tomostar).
    # Warp writes coordinates in pixels of rlnPixelSize (3.3 Å here).
    path = DATA / 'warp_m_particles.star'
    table = read_picks(path)
    assert set(table['run']) == {'TS'}
    assert pk.positions(table)[0] == pytest.approx(
        np.array([880.274, 895.0579, 1107.245]) * 3.3
    )
    given = read_picks(path, voxel_size=6.6)
    assert np.allclose(pk.positions(given), 2 * pk.positions(table))


def test_warp_template_matching_fractions(tmp_path):
    frame = pd.DataFrame(
        {
            'rlnCoordinateX': [0.5, 0.25],
            'rlnCoordinateY': [0.5, 1.0],
            'rlnCoordinateZ': [0.5, 0.0],
            'rlnAngleRot': [0.0, 10.0],
            'rlnAngleTilt': [0.0, 20.0],
            'rlnAnglePsi': [0.0, 30.0],
            'rlnMicrographName': ['TS_1.tomostar'] * 2,
            'rlnAutopickFigureOfMerit': [7.5, 6.0],
        }
    )
    path = tmp_path / 'TS_1_10.00Apx_ribosome.star'
    starfile.write(frame, path)
    # Warp's reconstruction is TS_1_10.00Apx.mrc: matched to TS_1.tomostar.
    store = tmp_path / 'TS_1_10.00Apx.zarr'
    header_only_store(store, (100, 400, 300), 10.0)
    table = read_picks(path, tomograms=store)
    assert np.allclose(
        pk.positions(table), [[1500.0, 2000.0, 500.0], [750.0, 4000.0, 0.0]]
    )
    assert list(table['score']) == [7.5, 6.0]
    # No class column: the file name says which particle.
    assert set(table['particle_type']) == {'TS_1_10.00Apx_ribosome'}


# --- bad input ---------------------------------------------------------------


def test_bad_star_inputs(czii_json_runs, czii_tomograms, tmp_path, capsys):
    out = tmp_path / 'out'
    picks = str(czii_json_runs['TS_5_4'])
    tomos = ['--tomograms', str(czii_tomograms)]

    def star(name, **columns):
        path = tmp_path / name
        starfile.write({'particles': pd.DataFrame(columns)}, path)
        return str(path)

    centred = {f'rlnCenteredCoordinate{a}Angst': [1.0] for a in 'XYZ'}
    cases = [
        ('nocoords', {'rlnAngleRot': [1]}, tomos, 'no coordinate columns'),
        ('centred', centred, [], '--tomograms'),
        ('pixels', {f'rlnCoordinate{a}': [1.0] for a in 'XYZ'}, [], 'voxel'),
        ('unknown', {**centred, 'rlnClassNumber': [42]}, tomos, 'Number 42'),
    ]
    for name, columns, extra, words in cases:
        path = star(f'{name}.star', rlnTomoName=['TS_5_4'], **columns)
        target = str(out / f'{name}.csv')
        argv = ['export', path, '--to', 'csv', target, *extra]
        _fails(capsys, argv, f'{name}.star', words)
        _fails(capsys, ['score', picks, path, *extra], f'{name}.star', words)
    stranger = star('stranger.star', rlnTomoName=['TS_0_0'], **centred)
    _fails(
        capsys,
        ['score', picks, stranger, *tomos],
        'stranger.star',
        "'TS_0_0' is not among the tomograms",
    )
    pixels = str(tmp_path / 'pixels.star')
    argv = ['score', picks, pixels, '--voxel-size', '-1']
    _fails(capsys, argv, 'pixels.star', 'positive')
    argv = ['export', picks, '--to', 'csv', str(out / 'f.csv')]
    _fails(capsys, [*argv, '--split-classes'], 'STAR output only')
    garbage = tmp_path / 'garbage.star'
    garbage.write_bytes(b'\x00\xff not a star')
    _fails(capsys, ['score', picks, str(garbage), *tomos], 'garbage.star')
    # Writing: centred coordinates need the tomograms; a run without a
    # tomogram is named; nothing is written either way.
    _fails(
        capsys,
        ['export', picks, '--to', 'star', str(out / 'd.star')],
        '--tomograms',
    )
    lonely = tmp_path / 'lonely'
    lonely.mkdir()
    header_only_store(lonely / 'TS_99_9.zarr', CZII_SHAPE, CZII_VOXEL)
    _fails(
        capsys,
        ['export', picks, '--to', 'star', str(out / 'e.star')]
        + ['--tomograms', str(lonely)],
        'e.star',
        "'TS_5_4'",
    )
    assert not out.exists()
    kept = tmp_path / 'kept.star'
    kept.write_text('keep')
    _fails(
        capsys,
        ['export', picks, '--to', 'star', str(kept), *tomos],
        'already exists',
    )
    assert kept.read_text() == 'keep'


def test_write_star_writes_nothing_when_one_class_fails(tmp_path):
    table = pk.make_picks(
        ['TS_1', 'TS_2'], ['ribosome', 'apo-ferritin'], [[1, 2, 3], [4, 5, 6]]
    )
    geometry = {'TS_1': TomogramGeometry('TS_1', (10, 10, 10), (1, 1, 1))}
    with pytest.raises(Exception, match='TS_2'):
        write_star(
            table, tmp_path / 'p.star', 'relion5', geometry, split_classes=True
        )
    assert list(tmp_path.iterdir()) == []

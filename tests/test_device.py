"""Device choice, tested on the CPU: what a GPU user's flags do here."""

import json

import pytest

torch = pytest.importorskip('torch')

from napari_cryopick.cli import main  # noqa: E402
from napari_cryopick.errors import CryopickError  # noqa: E402
from napari_cryopick.model.device import (  # noqa: E402
    describe,
    explain,
    resolve_device,
)

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.skipif(not NO_CUDA, reason='a CUDA GPU is present')
def test_auto_is_the_cpu_without_cuda():
    assert resolve_device('auto') == torch.device('cpu')
    assert resolve_device(None) == torch.device('cpu')
    assert describe(resolve_device('cpu')) == 'cpu'


@pytest.mark.skipif(not NO_CUDA, reason='a CUDA GPU is present')
@pytest.mark.parametrize('name', ['cuda', 'cuda:0', 'CUDA'])
def test_cuda_without_cuda_says_why(name):
    with pytest.raises(CryopickError) as info:
        resolve_device(name)
    message = str(info.value)
    assert f'device {name.lower()!r} asked for, but' in message
    assert 'CPU-only build' in message or 'sees no CUDA GPU' in message
    assert '--device cpu or auto' in message


def test_auto_takes_cuda_when_torch_sees_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert resolve_device('auto') == torch.device('cuda')
    assert resolve_device('cuda:0') == torch.device('cuda:0')
    with pytest.raises(CryopickError, match='there are 1 CUDA GPUs'):
        resolve_device('cuda:3')


def test_unknown_device():
    with pytest.raises(CryopickError, match="unknown device 'tpu'"):
        resolve_device('tpu')


def test_out_of_memory_is_one_line(monkeypatch):
    def no_info():
        raise RuntimeError('no CUDA')

    monkeypatch.setattr(torch.cuda, 'mem_get_info', no_info)
    err = explain(torch.cuda.OutOfMemoryError('CUDA out of memory.\n' * 40))
    assert str(err) == (
        'out of GPU memory: close other GPU programs, or use --device cpu'
    )
    assert explain(ValueError('other')) is None


@pytest.mark.skipif(not NO_CUDA, reason='a CUDA GPU is present')
def test_predict_and_finetune_refuse_cuda_first(tmp_path, capsys, checkpoint):
    from napari_cryopick.io.ome_zarr_write import write_ome_zarr

    store = write_ome_zarr(tmp_path / 't.zarr', torch.rand(8, 16, 16), 10.0)
    out = tmp_path / 'out'
    argv = ['predict', str(store), '--out', str(out), '--device', 'cuda']
    assert main([*argv, '--model', str(checkpoint)]) == 1
    assert "device 'cuda' asked for" in capsys.readouterr().err
    assert not out.exists()
    argv = ['finetune', str(tmp_path), '--out', str(tmp_path / 'm')]
    assert main([*argv, '--device', 'cuda']) == 1
    assert "device 'cuda' asked for" in capsys.readouterr().err


def test_predict_records_the_device(tmp_path, checkpoint):
    import numpy as np

    from napari_cryopick.io.ome_zarr_write import write_ome_zarr

    volume = np.random.default_rng(0).normal(size=(16, 32, 32))
    store = write_ome_zarr(tmp_path / 't.zarr', volume, 10.0)
    out = tmp_path / 'out'
    argv = ['predict', str(store), '--out', str(out), '--device', 'cpu']
    assert main([*argv, '--model', str(checkpoint)]) == 0
    record = out / 'ExperimentRuns' / 't' / '.cryopick' / 'cryopick_0.json'
    body = json.loads(record.read_text())
    assert body['device'] == 'cpu'
    assert 'device' not in body['settings']  # results do not depend on it
    # The same picks with another device choice are still done.
    argv[-1] = 'auto'
    assert main([*argv, '--model', str(checkpoint)]) == 0

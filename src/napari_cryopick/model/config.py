"""Networks by config: one dataclass names any supported MONAI network.

Every architecture of the CZII seeds is one line, e.g. the 2nd place's
single model::

    NetworkConfig('unet', channels=(48, 64, 80, 80), strides=(2, 2, 1),
                  num_res_units=1)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ARCHITECTURES = ('unet', 'vnet', 'segresnet', 'dynunet')


@dataclass(frozen=True)
class NetworkConfig:
    """A 3-D segmentation network and its size.

    Parameters
    ----------
    architecture : str
        One of ``unet`` (``num_res_units`` > 0 makes it residual),
        ``vnet``, ``segresnet``, ``dynunet``.
    out_channels : int
        Classes including background.
    channels : tuple of int
        Features per level (UNet, DynUNet); SegResNet uses the first as
        ``init_filters``.
    strides : tuple of int
        Downsampling per level transition (UNet, DynUNet).
    num_res_units : int
        Residual units per UNet block (0: plain UNet).
    norm : str
        Normalisation layer name (MONAI spelling, e.g. ``instance``).
    act : str
        Activation name (MONAI spelling, e.g. ``prelu``).
    dropout : float
        Dropout probability.
    """

    architecture: str = 'unet'
    out_channels: int = 7
    channels: tuple[int, ...] = (24, 48, 64, 64)
    strides: tuple[int, ...] = (2, 2, 1)
    num_res_units: int = 1
    norm: str = 'instance'
    act: str = 'prelu'
    dropout: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            known = ', '.join(ARCHITECTURES)
            raise ValueError(
                f'unknown architecture {self.architecture!r} (known: {known})'
            )

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> NetworkConfig:
        """Build a config from :meth:`to_dict` output."""
        data = dict(data)
        for key in ('channels', 'strides'):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


def build_network(config: NetworkConfig):
    """Instantiate the MONAI network that ``config`` names.

    Parameters
    ----------
    config : NetworkConfig
        The architecture.

    Returns
    -------
    torch.nn.Module
        A network mapping (B, 1, Z, Y, X) to (B, out_channels, Z, Y, X)
        logits.
    """
    builders = {
        'unet': _unet,
        'vnet': _vnet,
        'segresnet': _segresnet,
        'dynunet': _dynunet,
    }
    return builders[config.architecture](config)


def _unet(c: NetworkConfig):
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=c.out_channels,
        channels=c.channels,
        strides=c.strides,
        num_res_units=c.num_res_units,
        norm=c.norm,
        act=c.act,
        dropout=c.dropout,
        **c.extra,
    )


def _vnet(c: NetworkConfig):
    from monai.networks.nets import VNet

    return VNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=c.out_channels,
        dropout_prob_down=c.dropout,
        dropout_prob_up=(c.dropout, c.dropout),
        **c.extra,
    )


def _segresnet(c: NetworkConfig):
    from monai.networks.nets import SegResNet

    return SegResNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=c.out_channels,
        init_filters=c.channels[0],
        norm=c.norm,
        dropout_prob=c.dropout or None,
        **c.extra,
    )


def _dynunet(c: NetworkConfig):
    from monai.networks.nets import DynUNet

    strides = (1, *c.strides)
    return DynUNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=c.out_channels,
        kernel_size=[3] * len(strides),
        strides=strides,
        upsample_kernel_size=strides[1:],
        filters=c.channels[: len(strides)],
        norm_name=c.norm,
        act_name=c.act,
        dropout=c.dropout or None,
        res_block=c.num_res_units > 0,
        **c.extra,
    )


def count_parameters(network) -> int:
    """Return the number of trainable parameters of ``network``."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)

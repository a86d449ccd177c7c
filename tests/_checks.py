"""Assertions shared by the notebook tests: what every saved comparison with a paper must carry."""
from xaikit import results, stats

# The batch size a forward plan picks decides which matrix kernel runs, and with it the last bits of float32
# logits (about 1e-8 here): outputs computed in differently composed batches agree to float32 rounding, not bit
# for bit. Identities across batchings are checked to this tolerance; it is far below any real effect tested.
F32 = dict(rtol=1e-5, atol=1e-7)

FIELDS = ("verdict", "ci", "n", "reason", "kind", "claim", "interval", "reference")


def check_comparisons(values: dict) -> dict:
    """Every entry compared with a paper carries its interval, n, verdict and reason, and the verdict is what
    the kit's rule gives for the saved interval. Returns those entries."""
    compared = {k: e for k, e in values.items() if "paper" in e or "verdict" in e}
    assert compared, "no comparisons saved"
    for k, e in compared.items():
        for field in FIELDS:
            assert field in e, (k, field)
        assert e["verdict"] in stats.VERDICTS and e["reason"], k
        assert isinstance(e["n"], int) and e["n"] >= 1, k
        assert e["ci"][0] <= e["ci"][1], k
        assert results.regrade(e).verdict == e["verdict"], k
    return compared

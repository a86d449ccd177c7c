"""Assertions shared by the notebook tests: what every saved comparison with a paper must carry."""
from xaikit import claims, stats
from xaikit.results import NOT_GRADED

# The batch size a forward plan picks decides which matrix kernel runs, and with it the last bits of float32
# logits (about 1e-8 here): outputs computed in differently composed batches agree to float32 rounding, not bit
# for bit. Identities across batchings are checked to this tolerance; it is far below any real effect tested.
F32 = dict(rtol=1e-5, atol=1e-7)

FIELDS = ("verdict", "ci", "n", "reason", "kind", "claim", "interval", "reference")
REGISTRY_FIELDS = ("verdict", "ci", "n", "reason", "interval", "claim_id", "registry")  # graded by a registry row


def registry_row(key: str, claim_id: str):
    """The registry row `claim_id` that grades results key `key`, in whichever notebook's registry holds it."""
    for nb in claims.notebooks():
        row = claims.load(nb).by_measure().get(key)
        if row is not None and row.id == claim_id:
            return row
    raise AssertionError(f"{key}: no registry row {claim_id!r} grades it")


def check_comparisons(values: dict) -> dict:
    """Every entry compared with a paper carries its interval, n, verdict and reason, and the verdict is what
    the registry row that grades it gives for the saved interval; an entry no row grades (a measurement only a
    smoke run makes) is "not graded", with the notebook's own reading beside it. Returns those entries."""
    compared = {k: e for k, e in values.items() if "paper" in e or "verdict" in e}
    assert compared, "no comparisons saved"
    for k, e in compared.items():
        for field in (REGISTRY_FIELDS if e.get("claim_id") else FIELDS):
            assert field in e, (k, field)
        assert e["verdict"] in claims.STATUSES + (NOT_GRADED,) and e["reason"], k
        assert isinstance(e["n"], int) and e["n"] >= 1, k
        assert e["ci"][0] <= e["ci"][1], k
        if e.get("claim_id"):
            row = registry_row(k, e["claim_id"])
            assert claims.registry_fields(row, e, {"values": values})["verdict"] == e["verdict"], k
        else:   # no registry row: a measurement only; the notebook's own reading is kept beside it
            assert e["verdict"] == NOT_GRADED, k
            ci, own = claims.interval(e), e["notebook_reading"]["verdict"]
            assert stats.verdict(ci, e["kind"], e["reference"], e.get("tol"), own != "not comparable",
                                 e.get("why")).verdict == own, k
    return compared

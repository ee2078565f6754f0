"""Live knowledge base tests: sample reports and a throw-away corpus + index beside them.

``make_kb`` copies ``data/reports`` and an already built index snapshot into a temporary folder
(never touching the repository's files), so each test changes its own copy and no test pays for
building an index.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR = ROOT / "data" / "reports"
API_KEY = "kb-test-key-9f2c"

# Three made-up reports, each the only one answering its question.
ELDERLY_V1 = """青山湾社区启用“智慧养老驿站”

2023-05-12 09:30

记者 林晓岚 通讯员 赵铭

近日，李沧区青山湾社区“智慧养老驿站”正式启用。驿站位于社区党群服务中心一楼，面积约420平方米，设有助餐厅、康复室、日间照料室和老年课堂。

据社区党委书记周文涛介绍，驿站共配备了18名专职护理员，为辖区60岁以上老人提供助餐、助浴、助医等上门服务。老人通过智能手环一键呼叫，护理员可在15分钟内到达。

驿站开放以来，已累计服务老人3600余人次。青山湾社区还联合辖区医院，每月开展两次免费义诊，让老人在家门口享受到便捷的医疗服务。
"""
ELDERLY_QUESTION = "青山湾社区的智慧养老驿站配备了多少名专职护理员？"
ELDERLY_OLD_FACT = "18名专职护理员"
ELDERLY_NEW_FACT = "24名专职护理员"
ELDERLY_V2 = ELDERLY_V1.replace(ELDERLY_OLD_FACT, ELDERLY_NEW_FACT).replace("3600余人次", "5200余人次")

RECYCLING = """柳岸社区开设“垃圾分类积分超市”

2023-06-03 10:15

记者 何思远

为推动垃圾分类入户，城阳区柳岸社区在社区广场开设了“垃圾分类积分超市”。居民将分好类的可回收物交到超市，按重量累积积分，积分可兑换大米、食用油和洗衣液等生活用品。

社区网格员孙丽娜介绍，积分超市每周三和周六上午开放，目前已有870户居民办理了积分卡，每月回收废纸和塑料瓶约3吨。社区还组织志愿者每天在投放点值守，指导居民正确分类。
"""
RECYCLING_QUESTION = "柳岸社区的垃圾分类积分超市有多少户居民办理了积分卡？"

NIGHT_MARKET = """石桥街道打造“运河夜市”激活夜间经济

2023-07-21 20:00

记者 韩明哲 通讯员 冯雪

入夏以来，石桥街道在运河东岸打造的“运河夜市”每晚六点开市，沿河布置了126个摊位，汇集小吃、文创和非遗手工艺品。

街道经济发展办公室主任罗建国表示，夜市开市一个月以来，累计吸引游客超过15万人次，带动周边商户营业额增长三成。街道还增设了临时停车场和公共卫生间，并安排城管队员夜间巡查，保障夜市秩序。
"""
NIGHT_MARKET_QUESTION = "石桥街道的运河夜市沿河布置了多少个摊位？"

SAMPLES = {"kb-elderly": ELDERLY_V1, "kb-recycling": RECYCLING, "kb-night-market": NIGHT_MARKET}


@dataclass(frozen=True)
class KbDirs:
    """A corpus folder and an index (a link to a snapshot) in one temporary folder."""

    root: Path
    corpus: Path
    index: Path

    def corpus_state(self) -> dict[str, str]:
        """Every corpus file (hidden temporaries included) -> SHA-256."""
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.corpus.iterdir())
            if p.is_file()
        }

    def live_snapshot(self) -> str:
        return self.index.resolve().name


def make_kb(
    index_dir: Path, target: Path, *, snapshots: int = 1, reports_dir: Path = REPORTS_DIR
) -> KbDirs:
    """Copy ``reports_dir`` (the corpus ``index_dir`` was built from; default data/reports) and
    the snapshot ``index_dir`` points at into ``target``.

    ``snapshots=2`` also leaves an older identical snapshot beside it (as a writer that ran
    before would), so recovery can fall back to it. Each copy gets its checksums, as every
    snapshot written by ``zhiwen index`` and the live writer does.
    """
    from indexer.backends.local.snapshots import publish, write_checksums

    target.mkdir(parents=True, exist_ok=True)
    corpus = target / "corpus"
    shutil.copytree(reports_dir, corpus)
    source = Path(index_dir).resolve()
    snaps = target / "index.snapshots"
    snaps.mkdir()
    names = [f"19990101T00000{i}-{'0' * 8}" for i in range(snapshots - 1)] + [source.name]
    for name in names:
        shutil.copytree(source, snaps / name)
        write_checksums(snaps / name)
    index = target / "index"
    publish(index, snaps / names[-1])
    assert os.path.islink(index)
    return KbDirs(target, corpus, index)

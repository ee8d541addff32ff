"""The 3-level ticket category taxonomy (classify/data/taxonomy.csv) and the keywords derived from its names."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from .resources import PathLike, data_path, read_table

logger = logging.getLogger(__name__)

__all__ = ["Taxonomy", "TaxonomyNode", "load_taxonomy", "name_keywords"]

_COLUMNS = ("一级分类", "二级分类", "三级分类")
# Generic words that say nothing about the category on their own.
_GENERIC = frozenset(
    "其他 管理 问题 建设 政策 服务 工作 事务 发展 规划 体制 改革 其他补贴 情况 处理 制度 申请 审批 手续 监管 "
    "行业 事业 市场 城市 城镇 城乡 农村 设施 公共 安全 待遇 人员 保护 纠纷 补偿 执行 决定 调整 标准 资金 "
    "使用 资格 企业 单位 机构 希望 办理 时间 关系 力量 发放 主义 形式 之风 行政 社会 组织 技术 开发 公开 集体 "
    "经营 职工 维护 方案 基础 供应 困难 保障 质量 违法 非法 权益 家庭 收入 推广 区域 监督 设备 输出 商业 人口 "
    "不服 流动 措施 鉴定 资源 团体 精神 群众 文明 生产 设计 评估 补贴 资质 事故 环境 执法 收费 登记 特种 合同 "
    "交易 产权 宣传 作风 职业 培训 统筹 基金 资产 流失 医疗 民间 安置 破坏 负担 经费 竞赛 队伍 休息 汽车 冬季 "
    "示范 监测 形式主义 生态 公共卫生 工程 社区 救助 福利 劳务 运输 征收 转让 权属 大气 固体 土壤 电磁 未批 未验 "
    "先建 先用 检验 打击 报复 惠农 后期 扶持 承包 野生 良种 直补 公共设施 基础设施 事故处理 征管 调控 宏观 分配 "
    "融资 依法 期货 改制 国资 降耗 节能 能源 收支 财政 推广".split()
)
_SPLIT = re.compile(r"[、，,和与及“”\"()（）]+")
_SUFFIXES = ("管理", "问题", "建设", "政策", "服务", "工作", "事务", "纠纷", "监管", "补偿", "待遇", "处理", "规划")


@dataclass(frozen=True, slots=True)
class TaxonomyNode:
    """One leaf of the taxonomy: its path from the top level."""

    level1: str
    level2: str
    level3: str


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A 3-level category scheme.

    Attributes:
        leaves: every (level1, level2, level3) path, in file order.
        source: the file it was read from.
    """

    leaves: tuple[TaxonomyNode, ...]
    source: str = "<taxonomy>"

    @property
    def top_level(self) -> tuple[str, ...]:
        """The top-level categories, in file order."""
        return tuple(dict.fromkeys(n.level1 for n in self.leaves))

    def second_level(self, level1: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.level2 for n in self.leaves if n.level1 == level1))

    def third_level(self, level1: str, level2: str) -> tuple[str, ...]:
        return tuple(n.level3 for n in self.leaves if n.level1 == level1 and n.level2 == level2)

    def keywords(self) -> dict[str, frozenset[str]]:
        """Top-level category -> keywords derived from its second- and third-level names (see `name_keywords`)."""
        out: dict[str, set[str]] = {c: set() for c in self.top_level}
        for node in self.leaves:
            out[node.level1].update(name_keywords(node.level2))
            out[node.level1].update(name_keywords(node.level3))
        return {c: frozenset(words) for c, words in out.items()}


def name_keywords(name: str) -> tuple[str, ...]:
    """Split a category name into keywords a caller might say.

    The name is cut at 、/和/与/及, a generic suffix (管理, 问题 …) is also dropped, four-character
    compounds also give their halves ("噪音污染" → 噪音, 污染), and generic words are left out.

    >>> name_keywords("噪音污染")
    ('噪音污染', '噪音', '污染')
    """
    out: list[str] = []

    def add(word: str) -> None:
        if len(word) >= 2 and word not in _GENERIC and word not in out:
            out.append(word)

    for piece in _SPLIT.split(name):
        add(piece)
        stem = piece
        for suffix in _SUFFIXES:
            if piece.endswith(suffix) and len(piece) - len(suffix) >= 2:
                stem = piece[: -len(suffix)]
                add(stem)
                break
        if len(stem) == 4:
            add(stem[:2])
            add(stem[2:])
    return tuple(out)


@lru_cache(maxsize=4)
def load_taxonomy(path: Optional[PathLike] = None) -> Taxonomy:
    """Read a taxonomy CSV with columns 一级分类,二级分类,三级分类; None reads the shipped ``taxonomy.csv``.

    Raises:
        ValueError: a row has an empty name (names the file and line), or the file has no rows.
    """
    file = data_path("taxonomy.csv", path)
    leaves = []
    for row in read_table(file, _COLUMNS):
        names = [row[c] for c in _COLUMNS]
        if not all(names):
            raise ValueError(f"empty category name in {row.where()}: {','.join(names)!r}")
        leaves.append(TaxonomyNode(*names))
    if not leaves:
        raise ValueError(f"taxonomy {str(file)!r} has no categories")
    return Taxonomy(tuple(leaves), str(file))

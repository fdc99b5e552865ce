"""What owners decide together and by how much (PRC Civil Code Art. 278).

Art. 278 ¶1 lists the matters owners decide jointly; ¶2 sets one participation quorum for all of them and two approval
thresholds: items 6–8 ("special matters") need three quarters, the others a majority. Chinese statutory counting
words are exact (Civil Code Art. 1259): 以上 ("or more") includes the number itself, 过半数 ("more than half") does not.
So the quorum and the special threshold are inclusive, the ordinary threshold is strict: exactly one half fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from fractions import Fraction


class Matter(Enum):
    """The nine matters of Civil Code Art. 278 ¶1, in the order of the article."""

    RULES_OF_PROCEDURE = "rules_of_procedure"
    MANAGEMENT_COVENANT = "management_covenant"
    OWNERS_COMMITTEE = "owners_committee"
    PROPERTY_MANAGER = "property_manager"
    USE_OF_MAINTENANCE_FUNDS = "use_of_maintenance_funds"
    RAISING_OF_MAINTENANCE_FUNDS = "raising_of_maintenance_funds"
    REBUILDING = "rebuilding"
    USE_OF_COMMON_PARTS = "use_of_common_parts"
    OTHER_MAJOR_MATTER = "other_major_matter"

    @property
    def article_item(self) -> int:
        """The item number (1–9) of Art. 278 ¶1 that names this matter."""
        return _ITEMS[self]

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]

    @property
    def label_en(self) -> str:
        return _LABELS_EN[self]

    @property
    def is_special(self) -> bool:
        """Items 6–8 of Art. 278 ¶1: decided by three quarters instead of a majority."""
        return self in SPECIAL_MATTERS


_ITEMS: dict[Matter, int] = {matter: item for item, matter in enumerate(Matter, start=1)}

_LABELS_ZH: dict[Matter, str] = {
    Matter.RULES_OF_PROCEDURE: "制定和修改业主大会议事规则",
    Matter.MANAGEMENT_COVENANT: "制定和修改管理规约",
    Matter.OWNERS_COMMITTEE: "选举业主委员会或者更换业主委员会成员",
    Matter.PROPERTY_MANAGER: "选聘和解聘物业服务企业或者其他管理人",
    Matter.USE_OF_MAINTENANCE_FUNDS: "使用建筑物及其附属设施的维修资金",
    Matter.RAISING_OF_MAINTENANCE_FUNDS: "筹集建筑物及其附属设施的维修资金",
    Matter.REBUILDING: "改建、重建建筑物及其附属设施",
    Matter.USE_OF_COMMON_PARTS: "改变共有部分的用途或者利用共有部分从事经营活动",
    Matter.OTHER_MAJOR_MATTER: "有关共有和共同管理权利的其他重大事项",
}

_LABELS_EN: dict[Matter, str] = {
    Matter.RULES_OF_PROCEDURE: "Adopting or amending the rules of procedure of the owners' assembly",
    Matter.MANAGEMENT_COVENANT: "Adopting or amending the management covenant",
    Matter.OWNERS_COMMITTEE: "Electing the owners' committee or replacing its members",
    Matter.PROPERTY_MANAGER: "Hiring or dismissing the property service company or another manager",
    Matter.USE_OF_MAINTENANCE_FUNDS: "Using the maintenance funds of the buildings and their ancillary facilities",
    Matter.RAISING_OF_MAINTENANCE_FUNDS: "Raising maintenance funds for the buildings and their ancillary facilities",
    Matter.REBUILDING: "Rebuilding or reconstructing the buildings and their ancillary facilities",
    Matter.USE_OF_COMMON_PARTS: "Changing the use of common parts or using common parts for business",
    Matter.OTHER_MAJOR_MATTER: "Other major matters concerning common ownership and joint management rights",
}

SPECIAL_MATTERS: frozenset[Matter] = frozenset(
    {Matter.RAISING_OF_MAINTENANCE_FUNDS, Matter.REBUILDING, Matter.USE_OF_COMMON_PARTS}
)


@dataclass(frozen=True)
class Threshold:
    """A share that must be reached: at least `share` when inclusive (以上), more than `share` when not (过半数)."""

    share: Fraction
    inclusive: bool

    def is_met_by(self, ratio: Fraction) -> bool:
        return ratio >= self.share if self.inclusive else ratio > self.share


@dataclass(frozen=True)
class PassingRule:
    """The quorum and approval thresholds applied to one vote, with the rule stated for people to read.

    Each threshold must be met twice: once by exclusive area and once by headcount. The quorum is measured against
    the whole roll, the approval against those who took part.
    """

    quorum: Threshold
    approval: Threshold
    statement_zh: str
    statement_en: str


QUORUM = Threshold(Fraction(2, 3), inclusive=True)
SPECIAL_APPROVAL = Threshold(Fraction(3, 4), inclusive=True)
ORDINARY_APPROVAL = Threshold(Fraction(1, 2), inclusive=False)

SPECIAL_RULE = PassingRule(
    quorum=QUORUM,
    approval=SPECIAL_APPROVAL,
    statement_zh=(
        "特别事项（民法典第二百七十八条第一款第六项至第八项）：参与表决的业主专有部分面积和人数均占三分之二以上，"
        "且同意的业主专有部分面积和人数均占参与表决的四分之三以上"
    ),
    statement_en=(
        "Special matter (Civil Code Art. 278 ¶1 items 6–8): owners taking part hold at least two thirds of the "
        "exclusive area and are at least two thirds of the owners, and owners in favour hold at least three quarters "
        "of the participating area and are at least three quarters of the participating owners"
    ),
)

ORDINARY_RULE = PassingRule(
    quorum=QUORUM,
    approval=ORDINARY_APPROVAL,
    statement_zh=(
        "一般事项（民法典第二百七十八条）：参与表决的业主专有部分面积和人数均占三分之二以上，"
        "且同意的业主专有部分面积和人数均超过参与表决的半数"
    ),
    statement_en=(
        "Ordinary matter (Civil Code Art. 278): owners taking part hold at least two thirds of the exclusive area "
        "and are at least two thirds of the owners, and owners in favour hold more than half of the participating "
        "area and are more than half of the participating owners (exactly half fails)"
    ),
)

ELECTION_RULE = PassingRule(
    quorum=QUORUM,
    approval=ORDINARY_APPROVAL,
    statement_zh=(
        "选举（民法典第二百七十八条第一款第三项）：参与表决的业主专有部分面积和人数均占三分之二以上；"
        "候选人获得同意的专有部分面积和人数均超过参与表决的半数方可当选，"
        "当选人数超过应选名额时按同意面积、再按同意人数由高到低确定，末位完全相同者均不当选"
    ),
    statement_en=(
        "Election (Civil Code Art. 278 ¶1 item 3): owners taking part hold at least two thirds of the exclusive "
        "area and are at least two thirds of the owners; a candidate is elected when the owners approving them hold "
        "more than half of the participating area and are more than half of the participating owners, and, when "
        "more candidates qualify than there are seats, the seats go to the highest approving area, then headcount; "
        "candidates exactly tied for the last seat are not elected"
    ),
)


def rule_for(matter: Matter) -> PassingRule:
    """The rule that decides a yes/no resolution on `matter`."""
    return SPECIAL_RULE if matter.is_special else ORDINARY_RULE

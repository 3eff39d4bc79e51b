-- Fails (returns a row) when fewer than 90% of titles get a tag.
select tagged_share
from (
    select avg(case when cardinality(tags) > 0 then 1.0 else 0.0 end) as tagged_share
    from {{ ref('tagged_products') }}
) shares
where tagged_share < 0.9

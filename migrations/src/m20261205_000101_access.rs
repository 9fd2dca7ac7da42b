//! Who may create instances: passwords and sign-in sessions, key permissions, invite codes,
//! and the Stripe subscription mirrored onto the account (plus the processed webhook events
//! that make the webhook idempotent).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ColumnDef;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    PasswordHash,
    InviteId,
    StripeCustomerId,
    SubscriptionId,
    SubscriptionStatus,
    SubscriptionMaxInstances,
    SubscriptionEventAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Permissions,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    AccountId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum InviteCodes {
    Table,
    Id,
    CodeHash,
    Prefix,
    Note,
    MaxRedemptions,
    Redemptions,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StripeEvents {
    Table,
    Id,
    Kind,
    ReceivedAt,
}

/// Every permission: what keys made before permissions existed keep.
const ALL_PERMISSIONS: &str = "instances:read,instances:write,chat,files,terminal,admin";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let account_columns = [
            ColumnDef::new(Accounts::PasswordHash)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Accounts::InviteId).uuid().null().to_owned(),
            ColumnDef::new(Accounts::StripeCustomerId)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Accounts::SubscriptionId)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Accounts::SubscriptionStatus)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Accounts::SubscriptionMaxInstances)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(Accounts::SubscriptionEventAt)
                .big_integer()
                .null()
                .to_owned(),
        ];
        for mut column in account_columns {
            m.alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .add_column(
                    ColumnDef::new(ApiKeys::Permissions)
                        .string()
                        .not_null()
                        .default(ALL_PERMISSIONS),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                .col(
                    ColumnDef::new(Sessions::TokenHash)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Sessions::AccountId).uuid().not_null())
                .col(ColumnDef::new(Sessions::CsrfToken).string().not_null())
                .col(
                    ColumnDef::new(Sessions::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Sessions::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Sessions::Table, Sessions::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InviteCodes::Table)
                .col(
                    ColumnDef::new(InviteCodes::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(InviteCodes::CodeHash)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(InviteCodes::Prefix).string().not_null())
                .col(ColumnDef::new(InviteCodes::Note).string().null())
                .col(
                    ColumnDef::new(InviteCodes::MaxRedemptions)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(InviteCodes::Redemptions)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(InviteCodes::ExpiresAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(InviteCodes::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StripeEvents::Table)
                .col(
                    ColumnDef::new(StripeEvents::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(StripeEvents::Kind).string().not_null())
                .col(
                    ColumnDef::new(StripeEvents::ReceivedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StripeEvents::Table.into_iden(),
            InviteCodes::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .drop_column(ApiKeys::Permissions)
                .to_owned(),
        )
        .await?;
        for column in [
            Accounts::PasswordHash,
            Accounts::InviteId,
            Accounts::StripeCustomerId,
            Accounts::SubscriptionId,
            Accounts::SubscriptionStatus,
            Accounts::SubscriptionMaxInstances,
            Accounts::SubscriptionEventAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
